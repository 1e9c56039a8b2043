// The accept-queue maximum of each listening socket: only netlink inet_diag has it, so ask `ss`.

/** Parse `ss -ltnHe` (or `ss -ltnHe -A inet`) output: inode → the queue's maximum (ss's Send-Q). */
export function parseSsListen(text: string): Map<number, number> {
  const byInode = new Map<number, number>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== 'LISTEN') continue;
    const max = Number(fields[2]);
    const ino = fields.find((f) => f.startsWith('ino:'));
    if (!ino || !Number.isFinite(max)) continue;
    byInode.set(Number(ino.slice(4)), max);
  }
  return byInode;
}

/**
 * Accept-queue maxima by socket inode, or undefined when ss is not installed or fails; callers
 * then say "unknown" rather than guess. Asynchronous so that ss runs while we scan /proc.
 */
export function readListenBacklogs(): Promise<Map<number, number> | undefined> {
  // node:child_process is loaded here, when needed: netlink readers never are.
  const { execFile } = process.getBuiltinModule('node:child_process');
  return new Promise((resolve) => {
    execFile('ss', ['-ltnHe'], { encoding: 'latin1', timeout: 5000, maxBuffer: 64 << 20 }, (err, stdout) => {
      resolve(err ? undefined : parseSsListen(stdout));
    });
  });
}
