// JSON as tcplens writes it: two-space indents and a trailing newline, for every command's --json
// output and for the debug endpoints.

export function renderJson(data: unknown): string {
  return JSON.stringify(data, null, 2) + '\n';
}

/** Text is handed to the writer in pieces of about this many characters. */
const CHUNK_CHARS = 1 << 20;

/**
 * The same text as renderJson({...head, [key]: [...items]}) (key last), written piece by piece:
 * each item is made and turned into text only when its turn comes, so a document of 100,000
 * sockets never exists whole, as objects or as one string.
 */
export function writeJsonWithList<T>(
  head: object,
  key: string,
  count: number,
  item: (k: number) => T,
  write: (text: string) => void,
): void {
  const top = JSON.stringify(head, null, 2);
  const prefix = top === '{}' ? '{\n' : `${top.slice(0, -2)},\n`;
  if (count === 0) {
    write(`${prefix}  ${JSON.stringify(key)}: []\n}\n`);
    return;
  }
  let text = `${prefix}  ${JSON.stringify(key)}: [\n`;
  for (let k = 0; k < count; k++) {
    text += `    ${JSON.stringify(item(k), null, 2).replaceAll('\n', '\n    ')}${k === count - 1 ? '\n' : ',\n'}`;
    if (text.length >= CHUNK_CHARS) {
      write(text);
      text = '';
    }
  }
  write(`${text}  ]\n}\n`);
}
