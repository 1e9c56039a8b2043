// JSON output: one stable, documented document per command, written with a trailing newline.

export function renderJson(data: unknown): string {
  return JSON.stringify(data, null, 2) + '\n';
}
