// The page's tables and lists: stat cards, listening sockets with accept-queue bars, top ports and
// peers, doctor's findings. Built from text nodes only: nothing from the host is parsed as HTML.

import type {
  DashboardFindings,
  DashboardFrame,
  ListenerView,
  PortCountView,
  TopView,
} from '../../src/observe/dashboard-protocol.ts';
import { byId, empty, fmtCount, fmtPercent, fmtRate, fmtTime, h } from './format.ts';

const MAX_ROWS = 10;

function setStat(name: string, value: string, title?: string): void {
  const el = document.querySelector<HTMLElement>(`.stat[data-stat="${name}"]`);
  if (!el) return;
  const v = el.querySelector('.v')!;
  if (v.textContent !== value) v.textContent = value;
  if (title !== undefined) el.title = title;
}

function setLabel(name: string, text: string): void {
  const l = document.querySelector<HTMLElement>(`.stat[data-stat="${name}"] .l`);
  if (l && l.textContent !== text) l.textContent = text;
}

export function renderStats(f: DashboardFrame): void {
  const s = f.sockets.byState;
  setStat(
    'total',
    fmtCount(f.sockets.total),
    Object.entries(f.sockets.byFamily)
      .map(([k, v]) => `${k} ${fmtCount(v)}`)
      .join(', '),
  );
  setStat('established', fmtCount(s.ESTABLISHED ?? 0));
  setStat('time-wait', fmtCount(s.TIME_WAIT ?? 0));
  setStat('close-wait', fmtCount(s.CLOSE_WAIT ?? 0));
  if (f.ephemeral) {
    const e = f.ephemeral;
    setStat('ephemeral', fmtCount(e.inUse), `of ${fmtCount(e.usable)} usable in ${e.low}–${e.high}`);
    setLabel('ephemeral', `ephemeral ports in use · ${fmtPercent(e.usable ? e.inUse / e.usable : 0)} of range`);
    byId('range').textContent = `range ${e.low}–${e.high}, ${fmtCount(e.usable)} usable`;
  } else setStat('ephemeral', 'n/a');
  const r = f.rates;
  setStat('overflows', r ? fmtRate(r['TcpExt.ListenOverflows'] ?? 0) : '…');
  setStat('retransmits', r ? fmtRate(r['Tcp.RetransSegs'] ?? 0) : '…');
}

function more(n: number): HTMLElement | null {
  return n > 0 ? h('p', { class: 'more' }, `and ${fmtCount(n)} more`) : null;
}

const endpoint = (address: string, port: number) =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

function fillClass(fill: number | null): string {
  if (fill === null) return 'unknown';
  return fill >= 0.8 ? 'high' : fill >= 0.5 ? 'mid' : 'low';
}

function listenerRow(l: ListenerView): HTMLElement {
  const fill = l.fill;
  const pct = fill === null ? 0 : Math.min(1, fill);
  const bar = h('div', {
    class: `bar ${fillClass(fill)}`,
    title: fill === null ? 'maximum unknown (ss missing)' : fmtPercent(fill),
  });
  const level = h('span');
  level.style.width = `${(pct * 100).toFixed(1)}%`;
  bar.append(level);
  return h(
    'tr',
    { 'data-port': String(l.port) },
    h('td', { class: 'mono' }, endpoint(l.address, l.port)),
    h('td', {}, l.process ? `${l.process}/${l.pid}` : '–'),
    h('td', { class: 'num mono' }, `${fmtCount(l.queue)} / ${l.maxQueue === null ? '?' : fmtCount(l.maxQueue)}`),
    h('td', { class: 'fill' }, bar),
  );
}

export function renderListeners(list: ListenerView[]): void {
  const el = byId('listeners');
  if (list.length === 0) {
    el.replaceChildren(empty('No listening TCP sockets.'));
    return;
  }
  // Fullest first: a queue near its maximum is the one to look at.
  const sorted = [...list].sort((a, b) => (b.fill ?? -1) - (a.fill ?? -1) || b.queue - a.queue || a.port - b.port);
  const shown = sorted.slice(0, 40);
  el.replaceChildren(
    h(
      'table',
      { class: 'listeners' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'listener'),
          h('th', {}, 'process'),
          h('th', { class: 'num' }, 'queue'),
          h('th', {}, 'fill'),
        ),
      ),
      h('tbody', {}, ...shown.map(listenerRow)),
    ),
    more(sorted.length - shown.length) ?? '',
  );
}

interface CountRow {
  key: string;
  label: string;
  note?: string;
  /** Counts (null: not in the top N of that column), or text already formatted. */
  counts: (number | string | null)[];
}

function countTable(id: string, heads: string[], rows: CountRow[], other: number, emptyText: string): void {
  const el = byId(id);
  if (rows.length === 0) {
    el.replaceChildren(empty(emptyText));
    return;
  }
  // The bar behind the first count column is its share of the biggest one.
  const first = (r: CountRow) => (typeof r.counts[0] === 'number' ? r.counts[0] : 0);
  const max = Math.max(...rows.map(first), 1);
  el.replaceChildren(
    h(
      'table',
      { class: 'counts' },
      h('thead', {}, h('tr', {}, ...heads.map((t, i) => h('th', { class: i ? 'num' : undefined }, t)))),
      h(
        'tbody',
        {},
        ...rows.slice(0, MAX_ROWS).map((r) => {
          const cells = r.counts.map((c) =>
            h('td', { class: 'num mono' }, c === null ? '–' : typeof c === 'number' ? fmtCount(c) : c),
          );
          cells[0]?.classList.add('share');
          cells[0]?.style.setProperty('--share', `${((first(r) / max) * 100).toFixed(1)}%`);
          return h(
            'tr',
            { 'data-key': r.key },
            h('td', { class: 'mono' }, r.label, r.note ? h('small', {}, ` ${r.note}`) : null),
            ...cells,
          );
        }),
      ),
    ),
    more(other) ?? '',
  );
}

function portTable(id: string, head: string, list: TopView<PortCountView>, emptyText: string): void {
  const rows = list.top.map((p) => ({
    key: String(p.port),
    label: String(p.port),
    note: p.process ? `${p.process}/${p.pid}` : undefined,
    counts: [p.count],
  }));
  countTable(id, [head, 'sockets'], rows, list.other, emptyText);
}

export function renderPorts(f: DashboardFrame): void {
  portTable('tw-remote', 'remote port', f.timeWaitClientSide, 'No TIME_WAIT towards remote ports.');
  portTable('tw-local', 'listening port', f.timeWaitServerSide, 'No TIME_WAIT on listening ports.');
  portTable('est-local', 'local port', f.establishedLocal, 'No ESTABLISHED connections.');
  portTable('est-remote', 'remote port', f.establishedRemote, 'No ESTABLISHED connections.');
  countTable(
    'peers',
    ['remote address', 'ESTABLISHED', 'TIME_WAIT'],
    f.peers.map((p) => ({ key: p.address, label: p.address, counts: [p.established, p.timeWait] })),
    0,
    'No connections.',
  );
  const e = f.ephemeral;
  const d = e?.destinations ?? [];
  countTable(
    'destinations',
    ['destination', 'ports', 'TIME_WAIT', 'of range'],
    d.map((x) => ({
      key: endpoint(x.address, x.port),
      label: endpoint(x.address, x.port),
      counts: [x.ports, x.timeWait, fmtPercent(x.share)],
    })),
    0,
    e ? 'No outgoing connections from the ephemeral range.' : 'ip_local_port_range could not be read.',
  );
}

export function renderFindings(f: DashboardFindings | null, findingsIntervalMs: number): void {
  if (!f) return;
  byId('findings-when').textContent = `at ${fmtTime(f.t)}, over ${f.windowS} s · every ${findingsIntervalMs / 1000} s`;
  const list = byId('findings-list');
  const shown = f.findings.filter((x) => x.severity !== 'ok');
  const items = shown.map((x) =>
    h(
      'article',
      { class: `finding ${x.severity}`, 'data-id': x.id },
      h('header', {}, h('span', { class: `sev ${x.severity}` }, x.severity), h('b', {}, x.title), h('code', {}, x.id)),
      h('ul', { class: 'evidence' }, ...x.evidence.map((e) => h('li', {}, e))),
      h(
        'details',
        {},
        h('summary', {}, 'why, and the fix'),
        h('p', {}, x.mechanism),
        h('ul', { class: 'fix' }, ...x.fix.map((c) => h('li', {}, h('code', {}, c)))),
      ),
    ),
  );
  const ok = f.findings.filter((x) => x.severity === 'ok');
  list.replaceChildren(
    ...(items.length ? items : [empty('Nothing doctor checks for is wrong on this host right now.')]),
    ...(ok.length ? [h('p', { class: 'ok-line' }, `fine: ${ok.map((x) => x.title).join('; ')}`)] : []),
    ...(f.rootWouldAdd.length
      ? [h('p', { class: 'root' }, `as root this would also see: ${f.rootWouldAdd.join('; ')}`)]
      : []),
  );
}
