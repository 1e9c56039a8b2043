// TLS on both sides of a proxy, driven through the control API and checked with curl and openssl
// s_client as the clients: HTTP toxics in front of an https origin, certificates given or made at
// start, the upstream verified or (when asked) not, and a certificate that cannot be used refused
// at creation with nothing left behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { once } from 'node:events';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { selfSignedCertificate, type CertificatePair } from '../../src/http/self-signed.ts';
import { createProxyServer, type ProxyServer } from '../../src/proxy/server.ts';

const run = promisify(execFile);

/** curl's status code, body and exit code; never throws (curl's exit code is the finding). */
async function curl(args: string[]): Promise<{ code: number; status: number; body: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args]);
    const cut = stdout.lastIndexOf('\n');
    return { code: 0, status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut), stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string; stdout: string };
    return { code: e.code, status: Number(e.stdout.slice(e.stdout.lastIndexOf('\n') + 1)), body: '', stderr: e.stderr };
  }
}

/** openssl s_client's output; stdin at its end, so it leaves after the handshake. */
async function sClient(args: string[]): Promise<string> {
  const child = spawn('openssl', ['s_client', ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c));
  child.stderr.on('data', (c: Buffer) => (text += c));
  await once(child, 'close');
  return text;
}

interface Fixture {
  dir: string;
  /** The origin's certificate: self-signed, so it is its own CA. */
  origin: CertificatePair;
  originFile: string;
  /** A certificate for the proxy's listen side, in files. */
  listenCert: string;
  listenKey: string;
  https: { address: string; requests: number; close(): Promise<void> };
  api: string;
  server: ProxyServer;
  close(): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'tcplens-proxy-tls-'));
  const origin = await selfSignedCertificate();
  const listen = await selfSignedCertificate({ commonName: 'proxy.test', altNames: ['localhost', '127.0.0.1'] });
  const originFile = join(dir, 'origin.pem');
  const listenCert = join(dir, 'listen.pem');
  const listenKey = join(dir, 'listen.key');
  writeFileSync(originFile, origin.cert);
  writeFileSync(listenCert, listen.cert);
  writeFileSync(listenKey, listen.key);
  let requests = 0;
  const srv = createHttpsServer({ cert: origin.cert, key: origin.key }, (req, res) => {
    requests++;
    res.setHeader('x-origin', 'https');
    res.end(`hello ${req.url}`);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const server = await createProxyServer({ api: '127.0.0.1:0' });
  const https = {
    address: `127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    close: async () => {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
  return {
    dir,
    origin,
    originFile,
    listenCert,
    listenKey,
    https,
    api: server.apiUrl!,
    server,
    close: async () => {
      await server.close();
      await https.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, text, json, contentType: res.headers.get('content-type') };
}

test('HTTP toxics in front of an https origin: a self-signed listen side, the upstream verified with a given CA (curl --cacert)', async () => {
  const f = await fixture();
  try {
    const created = await call(f.api, 'POST', '/proxies', {
      name: 'web',
      listen: '127.0.0.1:0',
      upstream: f.https.address,
      mode: 'http',
      listen_tls: {},
      upstream_tls: { ca_file: f.originFile },
    });
    assert.equal(created.status, 201, created.text);
    const listenTls = created.json.listen_tls as { self_signed: boolean; certificate: string };
    assert.equal(listenTls.self_signed, true);
    assert.match(listenTls.certificate, /^-----BEGIN CERTIFICATE-----/);
    assert.deepEqual(created.json.upstream_tls, { ca_file: f.originFile });
    const made = join(f.dir, 'made.pem');
    writeFileSync(made, listenTls.certificate);
    const url = `https://${created.json.listen as string}`;

    // Trusted through the certificate the API shows; refused without it (curl's 60: not verified).
    const ok = await curl(['--cacert', made, `${url}/a`]);
    assert.deepEqual([ok.code, ok.status, ok.body], [0, 200, 'hello /a'], ok.stderr);
    const untrusted = await curl([`${url}/b`]);
    assert.equal(untrusted.code, 60, untrusted.stderr);

    // A status toxic answers inside the TLS session; the origin never sees the request.
    const before = f.https.requests;
    const toxic = await call(f.api, 'POST', '/proxies/web/toxics', { type: 'status', attributes: { code: 503 } });
    assert.equal(toxic.status, 200, toxic.text);
    const faulted = await curl(['--cacert', made, '-D', '-', `${url}/c`]);
    assert.equal(faulted.status, 503);
    assert.match(faulted.body, /x-tcplens-fault: status/i);
    assert.equal(f.https.requests, before);

    // A latency toxic holds the response; -k stands for a client that skips verification.
    await call(f.api, 'DELETE', '/proxies/web/toxics/status_downstream');
    await call(f.api, 'POST', '/proxies/web/toxics', { type: 'latency', attributes: { latency: 300 } });
    const started = performance.now();
    const slow = await curl(['-k', `${url}/d`]);
    const elapsedMs = performance.now() - started;
    assert.deepEqual([slow.status, slow.body], [200, 'hello /d']);
    assert.ok(elapsedMs >= 300, `the response took ${elapsedMs} ms, the toxic holds it 300`);
  } finally {
    await f.close();
  }
});

test('a given certificate on the listen side (openssl s_client verifies it), TCP mode, and an upstream that fails verification', async () => {
  const f = await fixture();
  try {
    const created = await call(f.api, 'POST', '/proxies', {
      name: 'tcp',
      listen: '127.0.0.1:0',
      upstream: f.https.address,
      listen_tls: { cert_file: f.listenCert, key_file: f.listenKey },
      upstream_tls: { ca_file: f.originFile },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(
      created.json.listen_tls && (created.json.listen_tls as Record<string, unknown>).certificate,
      undefined,
      'a given certificate is not echoed',
    );
    const [host, port] = (created.json.listen as string).split(':');
    const said = await sClient([
      '-connect',
      `${host}:${port}`,
      '-CAfile',
      f.listenCert,
      '-verify_return_error',
      '-brief',
    ]);
    assert.match(said, /Verification: OK/, said);
    assert.match(said, /proxy\.test/, said);
    const ok = await curl(['--cacert', f.listenCert, `https://${created.json.listen as string}/tcp`]);
    assert.deepEqual([ok.status, ok.body], [200, 'hello /tcp'], ok.stderr);

    // The system's CAs do not know the origin: every connection fails at the upstream handshake.
    const strict = await call(f.api, 'POST', '/proxies', {
      name: 'strict',
      listen: '127.0.0.1:0',
      upstream: f.https.address,
      upstream_tls: {},
    });
    assert.equal(strict.status, 201, strict.text);
    const refused = await curl([`http://${strict.json.listen as string}/x`]);
    assert.notEqual(refused.code, 0);
    assert.equal(f.server.proxy('strict')!.stats().upstreamFailures, 1);
    // ... unless verification is skipped, by name.
    const insecure = await call(f.api, 'POST', '/proxies', {
      name: 'insecure',
      listen: '127.0.0.1:0',
      upstream: f.https.address,
      upstream_tls: { insecure: true },
    });
    const through = await curl([`http://${insecure.json.listen as string}/plain-to-tls`]);
    assert.deepEqual([through.status, through.body], [200, 'hello /plain-to-tls'], through.stderr);
    // server_name: SNI and the name checked; the origin's certificate names localhost, not other.test.
    const named = await call(f.api, 'POST', '/proxies', {
      name: 'named',
      listen: '127.0.0.1:0',
      upstream: f.https.address,
      upstream_tls: { ca_file: f.originFile, server_name: 'localhost' },
    });
    const viaName = await curl([`http://${named.json.listen as string}/named`]);
    assert.deepEqual([viaName.status, viaName.body], [200, 'hello /named'], viaName.stderr);
    const wrong = await call(f.api, 'POST', '/proxies', {
      name: 'wrong',
      listen: '127.0.0.1:0',
      upstream: f.https.address,
      upstream_tls: { ca_file: f.originFile, server_name: 'other.test' },
    });
    assert.notEqual((await curl([`http://${wrong.json.listen as string}/wrong`])).code, 0);
    assert.equal(f.server.proxy('wrong')!.stats().upstreamFailures, 1);
    // A plain proxy shows no TLS fields: its JSON is Toxiproxy's.
    const plain = await call(f.api, 'POST', '/proxies', {
      name: 'plain',
      listen: '127.0.0.1:0',
      upstream: f.https.address,
    });
    assert.deepEqual(Object.keys(plain.json), [
      'name',
      'listen',
      'upstream',
      'enabled',
      'toxics',
      'mode',
      'max_connections',
    ]);
  } finally {
    await f.close();
  }
});

test('a TLS proxy whose certificate or key cannot be used is refused at creation (400 naming the field), and nothing is left behind', async () => {
  const f = await fixture();
  // A port to ask for, then free: a half-created proxy would still hold it.
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const garbage = join(f.dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const empty = join(f.dir, 'empty.key');
  writeFileSync(empty, '');
  try {
    const base = { name: 'bad', listen: `127.0.0.1:${port}`, upstream: f.https.address };
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { listen_tls: { cert_file: join(f.dir, 'missing.pem'), key_file: f.listenKey } },
        /^cannot read listen_tls\.cert_file .*missing\.pem for proxy bad: ENOENT$/,
      ],
      [
        { listen_tls: { cert_file: f.listenCert, key_file: join(f.dir, 'missing.key') } },
        /^cannot read listen_tls\.key_file .*missing\.key for proxy bad: ENOENT$/,
      ],
      [
        { listen_tls: { cert_file: f.dir, key_file: f.listenKey } },
        /^cannot read listen_tls\.cert_file .* for proxy bad: EISDIR$/,
      ],
      [{ listen_tls: { cert_file: garbage, key_file: f.listenKey } }, /^listen_tls of proxy bad .* cannot be used: /],
      [
        { listen_tls: { cert_file: f.listenCert, key_file: empty } },
        /^listen_tls of proxy bad .* cannot be used: the key is empty$/,
      ],
      // The origin's certificate with the listen side's key: not a pair.
      [{ listen_tls: { cert_file: f.originFile, key_file: f.listenKey } }, /cannot be used: .*key values mismatch/],
      [{ listen_tls: { cert_file: f.listenCert } }, /listen_tls\.cert_file and listen_tls\.key_file go together/],
      [
        { listen_tls: { cert_file: f.listenCert, key_file: f.listenKey, self_signed: true } },
        /give cert_file and key_file, or self_signed, not both/,
      ],
      [{ listen_tls: true }, /listen_tls must be an object, not boolean/],
      [{ listen_tls: { self_signed: false } }, /listen_tls: give cert_file and key_file, or self_signed/],
      [
        { listen_tls: { cert_file: 5, key_file: f.listenKey } },
        /cannot unmarshal number into Go struct field listen_tls\.cert_file of type string/,
      ],
      [
        { upstream_tls: { ca_file: join(f.dir, 'missing-ca.pem') } },
        /^cannot read upstream_tls\.ca_file .*missing-ca\.pem for proxy bad: ENOENT$/,
      ],
      [{ upstream_tls: { ca_file: garbage } }, /^upstream_tls\.ca_file .* holds no PEM certificate$/],
      [{ upstream_tls: { ca_file: f.originFile, insecure: true } }, /give ca_file or insecure, not both/],
      [
        { upstream_tls: { insecure: 'yes' } },
        /cannot unmarshal string into Go struct field upstream_tls\.insecure of type bool/,
      ],
      // A bad toxic is refused before any certificate is made.
      [{ listen_tls: {}, toxics: [{ type: 'nonsense' }] }, /invalid toxic type/],
    ];
    for (const [extra, message] of cases) {
      const r = await call(f.api, 'POST', '/proxies', { ...base, ...extra });
      assert.equal(r.status, 400, `${JSON.stringify(extra)}: ${r.text}`);
      assert.equal(r.json.status, 400);
      assert.match(String(r.json.error), message, JSON.stringify(extra));
      // Through populate the same, with nothing created either.
      const p = await call(f.api, 'POST', '/populate', [{ ...base, ...extra }]);
      assert.equal(p.status, 400, p.text);
      assert.match(String(p.json.error), message);
    }
    assert.deepEqual((await call(f.api, 'GET', '/proxies')).json, {}, 'no proxy left');
    // The port is free: nothing half-created holds it.
    const again = await call(f.api, 'POST', '/proxies', {
      ...base,
      listen_tls: { cert_file: f.listenCert, key_file: f.listenKey },
    });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.json.listen, `127.0.0.1:${port}`);
  } finally {
    await f.close();
  }
});
