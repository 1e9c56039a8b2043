// Plain-text tables and terminal colour: the only place that decides how text is laid out.

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
}

/** Whether to colour output on this stream: a TTY, and NO_COLOR unset (https://no-color.org). */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

const CODES = { red: 31, yellow: 33, green: 32, cyan: 36, dim: 2, bold: 1 } as const;
export type Color = keyof typeof CODES;

export function paint(text: string, color: Color | undefined, enabled: boolean): string {
  if (!enabled || !color) return text;
  return `\x1b[${CODES[color]}m${text}\x1b[0m`;
}

// Visible width of a string that may carry ANSI colour codes.
function width(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the ANSI colour codes it strips
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/**
 * Lay out rows under headers, each column as wide as its widest cell, two spaces apart.
 * Cells may already be coloured; alignment ignores the colour codes.
 */
export function renderTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(Math.max(0, widths[i]! - width(cell)));
        const right = columns[i]?.align === 'right';
        return right ? pad + cell : i === cells.length - 1 ? cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n') + '\n';
}
