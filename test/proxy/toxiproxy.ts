// The real Toxiproxy (../shared/anchors/toxiproxy/bin, or $TOXIPROXY_SERVER / $TOXIPROXY_CLI) for the
// tests that compare tcplens with it.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort, sleep } from './helpers.ts';

export const TOXIPROXY_SERVER = process.env.TOXIPROXY_SERVER ?? '/work/shared/anchors/toxiproxy/bin/toxiproxy-server';
export const TOXIPROXY_CLI = process.env.TOXIPROXY_CLI ?? '/work/shared/anchors/toxiproxy/bin/toxiproxy-cli';

/** The real toxiproxy-server on a free loopback port. */
export async function startToxiproxy(extraArgs: string[] = []): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(TOXIPROXY_SERVER, ['-host', '127.0.0.1', '-port', String(port), ...extraArgs], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${url}/version`).then(
        () => true,
        () => false,
      )
    )
      break;
    await sleep(50);
  }
  return {
    url,
    close: async () => {
      child.kill();
      await once(child, 'exit');
    },
  };
}
