import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderJson, writeJsonWithList } from '../../src/text/json.ts';

const collect = (head: object, items: unknown[]) => {
  const parts: string[] = [];
  writeJsonWithList(
    head,
    'sockets',
    items.length,
    (k) => items[k],
    (t) => parts.push(t),
  );
  return parts;
};

test('a list written piece by piece is the same text as the whole document pretty-printed', () => {
  const item = (k: number) => ({
    family: 'ipv4',
    local: { address: '127.0.0.1', port: k },
    info: k % 2 ? { rttMs: k / 7, congestion: 'cubic' } : undefined,
    tags: [],
    nested: [{ a: [1, 2] }],
  });
  for (const n of [0, 1, 2, 5000]) {
    const items = Array.from({ length: n }, (_, k) => item(k));
    for (const head of [
      { source: 'netlink', summary: { total: n, byState: { ESTABLISHED: n } }, malformedLines: 0 },
      {},
    ]) {
      const parts = collect(head, items);
      assert.equal(parts.join(''), renderJson({ ...head, sockets: items }), `n=${n} head=${JSON.stringify(head)}`);
      JSON.parse(parts.join(''));
    }
  }
});

test('a long list is handed over in several pieces, none of them the whole document', () => {
  const items = Array.from({ length: 20_000 }, (_, k) => ({ address: '2001:db8::1', port: k, text: 'x'.repeat(40) }));
  const parts = collect({ source: 'proc' }, items);
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.ok(parts.length > 2, `${parts.length} pieces`);
  assert.ok(Math.max(...parts.map((p) => p.length)) < total / 2);
});
