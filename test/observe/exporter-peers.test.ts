// Per-peer RTT and retransmits in the exporter, against `ss -tin` in a namespace of the test's own:
// connections from three source addresses, data sent while nft drops a share of it (retransmits),
// then the connections sit idle so that ss and the exporter read the same values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createNetns, type Netns } from '../../src/kernel/netns.ts';
import { hasPromtool, parseExposition, promtoolCheckMetrics, type Exposition } from '../helpers/prom-text.ts';
import { parseSsInfo, type SsInfo } from '../helpers/ss.ts';
import { has, streamCli } from '../trace/live.ts';
import { killOnExit } from '../helpers/children.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root'
  : (['nft', 'ss', 'curl', 'python3'] as const).find((c) => !has(c))
    ? 'needs nft, ss, curl and python3'
    : !hasPromtool()
      ? 'needs promtool'
      : false;

// Connections per source address; the server's sockets see these as their peers, the clients' see 127.0.0.1.
const SOURCES: Record<string, number> = { '127.0.0.2': 3, '127.0.0.3': 2, '127.0.0.4': 1 };
const SCRAPE_FROM = '127.0.0.8';
const EXPORTER_AT = '127.0.0.9';

const LOAD = `import socket,subprocess,sys,time
port=int(sys.argv[1]); sources=sys.argv[2:]
s=socket.socket(); s.bind(('127.0.0.1',port)); s.listen(64)
pairs=[]
for item in sources:
    src,n=item.split('=')
    for i in range(int(n)):
        c=socket.socket(); c.bind((src,0)); c.connect(('127.0.0.1',port)); a,_=s.accept(); pairs.append((c,a))
nft=lambda *a: subprocess.run(['nft',*a],check=True)
nft('add','table','inet','lossy')
nft('add','chain','inet','lossy','input','{ type filter hook input priority 0; }')
nft('add','rule','inet','lossy','input','tcp','dport',str(port),'numgen','random','mod','4','==','0','counter','drop')
for c,a in pairs:
    c.setblocking(False)
    data=b'x'*400000; sent=0; got=0
    while got<len(data):
        if sent<len(data):
            try: sent+=c.send(data[sent:sent+65536])
            except BlockingIOError: pass
        a.settimeout(0.05)
        try: got+=len(a.recv(262144))
        except socket.timeout: pass
nft('delete','table','inet','lossy')
time.sleep(0.5)
print('ready',flush=True)
sys.stdin.readline()
`;

interface PeerFigures {
  count: number;
  rttMedianMs: number;
  rttP99Ms: number;
  retrans: number;
}

const nearestRank = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
const peerOf = (endpoint: string) => endpoint.slice(0, endpoint.lastIndexOf(':')).replace(/^\[|\]$/g, '');

function byPeer(rows: SsInfo[]): Map<string, PeerFigures> {
  const groups = new Map<string, SsInfo[]>();
  for (const r of rows) {
    const peer = peerOf(r.peer);
    if (peer === SCRAPE_FROM || peer === EXPORTER_AT) continue;
    groups.set(peer, [...(groups.get(peer) ?? []), r]);
  }
  const out = new Map<string, PeerFigures>();
  for (const [peer, list] of groups) {
    const rtts = list.map((r) => r.fields.get('rtt') ?? 0).sort((a, b) => a - b);
    out.set(peer, {
      count: list.length,
      rttMedianMs: nearestRank(rtts, 0.5),
      rttP99Ms: nearestRank(rtts, 0.99),
      retrans: list.reduce((a, r) => a + (r.fields.get('retrans_total') ?? 0), 0),
    });
  }
  return out;
}

const ssIn = (ns: Netns) =>
  parseSsInfo(
    execFileSync(ns.exec[0]!, [...ns.exec.slice(1), 'ss', '-tinmHO', 'state', 'established'], { encoding: 'utf8' }),
  );

function scrapeIn(ns: Netns, url: string): { text: string; e: Exposition } {
  const text = execFileSync(ns.exec[0]!, [...ns.exec.slice(1), 'curl', '-sf', '--interface', SCRAPE_FROM, url], {
    encoding: 'utf8',
  });
  return { text, e: parseExposition(text) };
}

/**
 * Scrapes until the exporter shows a per-peer reading taken at or after sinceMs (bounded): a scrape
 * answers with the last reading and asks for the next, which a slow first reading may put off
 * (readings are spaced at least five times their own length).
 */
async function scrapeReadingSince(ns: Netns, url: string, sinceMs: number): Promise<{ text: string; e: Exposition }> {
  for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 100))) {
    const scraped = scrapeIn(ns, url);
    const takenAt = scraped.e.samples.find((s) => s.name === 'tcplens_peer_rtt_timestamp_seconds')?.value;
    if ((takenAt !== undefined && takenAt * 1000 >= sinceMs) || Date.now() > deadline) return scraped;
  }
}

/**
 * A namespace with LOAD's connections open and an exporter in it reading per-peer RTT every 0.1 s
 * with this --top: its URL, and when the connections were ready. close() stops both and deletes it.
 */
async function startScene(prefix: string, top: number) {
  const ns = createNetns(prefix);
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const sources = Object.entries(SOURCES).map(([a, n]) => `${a}=${n}`);
  const load = killOnExit(
    spawn(ns.exec[0]!, [...ns.exec.slice(1), 'python3', '-c', LOAD, String(port), ...sources], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const exporter = streamCli(
    [
      'exporter',
      '--listen',
      `${EXPORTER_AT}:0`,
      '--json',
      '--findings-interval',
      '0',
      '--rtt-interval',
      '0.1',
      '--top',
      String(top),
    ],
    { prefix: ns.exec },
  );
  const close = async () => {
    await exporter.stop('SIGKILL');
    load.kill('SIGKILL');
    ns.close();
  };
  try {
    await once(createInterface({ input: load.stdout! }), 'line');
    const readyAt = Date.now();
    await exporter.waitFor((l) => 'url' in l, 30_000);
    const url = (exporter.lines[0] as { url: string }).url;
    return { ns, exporter, url, readyAt, close };
  } catch (err) {
    await close();
    throw err;
  }
}

const metric = (e: Exposition, name: string, peer: string) =>
  e.samples.find((s) => s.name === name && s.labels.peer === peer)?.value;

test('exporter: connections, RTT median and p99, and retransmits per peer as ss -tin shows them; the RTT distribution adds up', {
  skip,
}, async () => {
  const { ns, exporter, url, readyAt, close } = await startScene('tcplens-test-exppeer', 1000);
  try {
    // A scrape shows the reading taken after the one before it (or at start-up, maybe before the
    // test's connections): scrape until one of them shows.
    await scrapeReadingSince(ns, url, readyAt);
    // Idle connections keep their tcp_info: ss before and after the scrape agree, or it is read again.
    let before: Map<string, PeerFigures> | undefined;
    let after: Map<string, PeerFigures> | undefined;
    let scraped!: { text: string; e: Exposition };
    let rows: SsInfo[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 150));
      before = byPeer(ssIn(ns));
      scraped = scrapeIn(ns, url);
      rows = ssIn(ns);
      after = byPeer(rows);
      if (JSON.stringify([...before]) === JSON.stringify([...after])) break;
    }
    assert.deepEqual([...after!], [...before!], 'ss read the same figures before and after the scrape');
    const expected = after!;
    assert.deepEqual(
      Object.fromEntries([...expected].map(([p, f]) => [p, f.count])),
      { ...SOURCES, '127.0.0.1': Object.values(SOURCES).reduce((a, n) => a + n, 0) },
      'ss sees the connections made',
    );
    const { e, text } = scraped;
    for (const [peer, f] of expected) {
      assert.equal(metric(e, 'tcplens_peer_connections', peer), f.count, `${peer} connections`);
      // ss prints milliseconds to the microsecond, as tcp_info counts them.
      assert.ok(
        Math.abs(metric(e, 'tcplens_peer_rtt_median_seconds', peer)! * 1000 - f.rttMedianMs) < 1e-6,
        `${peer} median ${metric(e, 'tcplens_peer_rtt_median_seconds', peer)} s, ss ${f.rttMedianMs} ms`,
      );
      assert.ok(Math.abs(metric(e, 'tcplens_peer_rtt_p99_seconds', peer)! * 1000 - f.rttP99Ms) < 1e-6, `${peer} p99`);
      assert.equal(metric(e, 'tcplens_peer_retransmitted_segments', peer), f.retrans, `${peer} retransmits`);
    }
    const retrans = [...expected.values()].reduce((a, f) => a + f.retrans, 0);
    assert.ok(retrans > 0, 'the dropped share was retransmitted');

    // The distribution: the sockets of a scrape (curl's and the exporter's, up to two, read just after the
    // previous answer left) are the only ones ss did not see.
    const all = rows.map((r) => r.fields.get('rtt') ?? 0);
    const buckets = e.samples.filter((s) => s.name === 'tcplens_connections_by_rtt');
    const every = buckets.find((s) => s.labels.at_most === '+Inf')?.value ?? -1;
    assert.ok(every >= all.length && every <= all.length + 2, `${every} connections read, ss ${all.length}`);
    for (const b of buckets.filter((s) => s.labels.at_most !== '+Inf')) {
      const seen = all.filter((r) => r <= Number(b.labels.at_most) * 1000).length;
      assert.ok(b.value >= seen && b.value <= seen + 2, `at most ${b.labels.at_most} s: ${b.value}, ss ${seen}`);
    }
    const check = promtoolCheckMetrics(text);
    assert.equal(check.status, 0, check.output);
    assert.equal(await exporter.stop('SIGTERM'), 0, exporter.stderr());
  } finally {
    await close();
  }
});

test('exporter: past --top, the other peers are summed as peer="other", so that connections still add up', {
  skip,
}, async () => {
  const { ns, url, readyAt, close } = await startScene('tcplens-test-expother', 2);
  try {
    const { e } = await scrapeReadingSince(ns, url, readyAt);
    const peers = e.samples.filter((s) => s.name === 'tcplens_peer_connections');
    assert.deepEqual(
      peers.map((s) => s.labels.peer),
      ['127.0.0.1', '127.0.0.2', 'other'],
    );
    // 12 of the test, and up to two of the scrape before.
    const total = peers.reduce((a, s) => a + s.value, 0);
    assert.ok(total >= 12 && total <= 14, `${total}`);
    assert.equal(metric(e, 'tcplens_peer_connections', 'other'), total - 6 - 3);
  } finally {
    await close();
  }
});
