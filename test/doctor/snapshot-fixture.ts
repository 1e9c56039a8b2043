// A healthy host as doctor's rules see it: the base every rule test changes one thing of.
// Not a test file: importing a *.test.ts would register its tests too.

import type { ConnectionEvidence, DoctorSnapshot } from '../../src/analyze/doctor/snapshot.ts';

/** Default sysctls, 10 ESTABLISHED sockets, no listener, no TIME_WAIT, a free port range. */
export function cleanSnapshot(): DoctorSnapshot {
  return {
    host: 'h',
    kernel: '6.18',
    durationS: 3,
    root: true,
    deltas: {},
    counters: {},
    sysctls: {
      'net.core.somaxconn': '4096',
      'net.ipv4.tcp_max_tw_buckets': '262144',
      'net.ipv4.tcp_fin_timeout': '60',
      'net.ipv4.tcp_tw_reuse': '2',
    },
    sockets: {
      total: 0,
      byState: { ESTABLISHED: 10, TIME_WAIT: 0, CLOSE_WAIT: 0, FIN_WAIT2: 0 },
      listeners: [],
      timeWaitServerSide: [],
      timeWaitClientSide: [],
      closeWait: [],
      timeWaitServerTotal: 0,
      timeWaitClientTotal: 0,
      finWait2: 0,
      ephemeral: {
        range: { low: 32768, high: 60999 },
        reservedInRange: 0,
        usable: 28232,
        portsInUse: 0,
        destinations: [],
      },
    },
    processes: [],
    rootWouldAdd: [],
  };
}

/** The clean host with tcp_info evidence over a 3 s window: no connection, no peer, unless given. */
export function snapshotWithConnections(c: Partial<ConnectionEvidence>): DoctorSnapshot {
  return {
    ...cleanSnapshot(),
    connections: {
      windowS: 3,
      connections: 0,
      peers: [],
      segsOut: 0,
      retransSegs: 0,
      limited: [],
      stuckSendQueues: [],
      ...c,
    },
  };
}
