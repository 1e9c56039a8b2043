// JSON as tcplens writes it: two-space indents and a trailing newline, for every command's --json
// output and for the debug endpoints.

export function renderJson(data: unknown): string {
  return JSON.stringify(data, null, 2) + '\n';
}
