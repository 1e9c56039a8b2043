import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram } from '../../src/cli/program.ts';
import { parseSocketsFast } from '../../src/cli/sockets.ts';

// What commander hands the sockets action for these arguments (the action replaced, nothing read).
async function viaCommander(args: string[]): Promise<Record<string, unknown>> {
  const program = await buildProgram('sockets');
  const cmd = program.commands.find((c) => c.name() === 'sockets')!;
  let seen: Record<string, unknown> = {};
  cmd.action((opts: Record<string, unknown>) => {
    seen = opts;
  });
  await program.parseAsync(['sockets', ...args], { from: 'user' });
  return seen;
}

test('plain options parse to exactly what commander hands the action', async () => {
  const cases = [
    [],
    ['--summary'],
    ['-s', 'estab,time-wait', '--state', 'listen', '--top', '3'],
    ['--state=close-wait', '-p'],
    ['-lp4'],
    ['-i', '-m', '--sort', 'rtt', '--json'],
    ['--port', '8080', '--by', 'peer', '--sport=1', '--dport', '2'],
    ['--peer', '[::1]:80', '-6', '-e'],
    ['--source', 'proc', '--watch', '0.5'],
    ['--top', '5', '--top', '7'],
  ];
  for (const args of cases) {
    const fast = parseSocketsFast(args);
    assert.ok(fast, `fast path refused ${args.join(' ')}`);
    assert.deepEqual({ ...fast }, { ...(await viaCommander(args)) }, args.join(' '));
  }
});

test('anything commander must answer is left to it: help, unknown options, bad values, arguments', () => {
  for (const args of [
    ['--help'],
    ['-h'],
    ['--bogus'],
    ['-s'],
    ['--top', '0'],
    ['--sort', 'bogus'],
    ['extra'],
    ['--', '-l'],
    ['--state', 'nope'],
    ['--summary=yes'],
  ]) {
    assert.equal(parseSocketsFast(args), undefined, args.join(' '));
  }
});
