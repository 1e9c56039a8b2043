import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../src/lab/runner.ts';
import { assertFitsTerminal } from './fits.ts';

test('E8 --quick: resumed sessions are accepted, every new connection pays a handshake, and keep-alive beats both', async () => {
  const report = await runLab({ ids: ['E8'], quick: true, handleSignals: false });
  const e = report.experiments[0]!;
  assert.equal(e.error, undefined, e.error);
  assertFitsTerminal(e);
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
  assert.ok(
    n(resumed!.resumed) > 0 && n(resumed!.resumed) >= n(resumed!.handshakes) * 0.9,
    `resumed ${resumed!.resumed} of ${resumed!.handshakes}`,
  );
  assert.ok(n(keepalive!.handshakes) <= 8, 'one handshake per keep-alive client');
  // Whether resumption is faster is not asserted: with TLS 1.3 and an EC P-256 certificate it saves a
  // fraction of a millisecond (the server's signature), and on 2 busy cores p10 and p50 of full and
  // resumed handshakes crossed in both directions. The conclusion reports which way it went.
  assert.ok(n(resumed!.handshakeMsP10) > 0 && n(full!.handshakeMsP10) > 0);
  assert.ok(n(keepalive!.rps) > n(full!.rps) && n(keepalive!.rps) > n(resumed!.rps));
});
