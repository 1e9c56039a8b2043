import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../src/lab/runner.ts';

test('E8 --quick: resumed sessions are accepted and handshake faster than full ones, and keep-alive beats both', async () => {
  const report = await runLab({ ids: ['E8'], quick: true, handleSignals: false });
  const e = report.experiments[0]!;
  assert.equal(e.error, undefined, e.error);
  assert.equal(e.rows.length, 3);
  const [full, resumed, keepalive] = e.rows;
  const n = (v: unknown) => v as number;
  for (const r of e.rows) {
    assert.equal(r.errors, 0);
    assert.ok(n(r.requests) > 0);
  }
  assert.equal(full!.resumed, 0, 'no session offered, none resumed');
  assert.equal(full!.handshakes, full!.requests, 'a handshake per request');
  // OpenSSL's own verdict (isSessionReused) on every connection that offered a ticket.
  assert.ok(n(resumed!.resumed) > 0 && n(resumed!.resumed) >= n(resumed!.handshakes) * 0.9, `resumed ${resumed!.resumed} of ${resumed!.handshakes}`);
  assert.ok(n(keepalive!.handshakes) <= 8, 'one handshake per keep-alive client');
  // p10: the handshake's own cost; the median also carries whatever else the 2 cores were doing.
  assert.ok(n(resumed!.handshakeMsP10) < n(full!.handshakeMsP10), `p10: resumed ${resumed!.handshakeMsP10} ms < full ${full!.handshakeMsP10} ms`);
  assert.ok(n(keepalive!.rps) > n(full!.rps) && n(keepalive!.rps) > n(resumed!.rps));
});
