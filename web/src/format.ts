// Numbers and times as the page shows them, and a tiny element builder (text only, never HTML).

const counts = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const rates = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export const fmtCount = (n: number): string => counts.format(n);

/** Rates per second: one decimal below 10, whole numbers above. */
export const fmtRate = (n: number): string => (Math.abs(n) >= 10 ? counts.format(n) : rates.format(n));

export const fmtPercent = (share: number): string => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;

export const fmtTime = (unixS: number): string => new Date(unixS * 1000).toLocaleTimeString('en-GB');

type Child = Node | string | number | null | undefined | false;

/** h('td', { class: 'num' }, 42): an element whose children are elements or text. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

/** A grey line where a table would be. */
export function empty(text: string): HTMLElement {
  return h('p', { class: 'empty' }, text);
}
