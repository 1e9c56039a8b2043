// The public API of the tcplens library: what `import … from 'tcplens'` offers, and nothing else.

// Errors
export {
  TcplensError,
  UsageError,
  PermissionError,
  UnsupportedPlatformError,
  KernelReadError,
  NetlinkUnavailableError,
} from './errors.ts';

// Model
export type { Socket, Endpoint, Family, TimerKind, TcpInfo, SocketMemory } from './model/socket.ts';
export { TCP_STATES, parseStateName, stateName, type TcpState } from './model/tcp-state.ts';
export type { Counters, CounterFields, CounterSections, ParsedCounters } from './model/counters.ts';

// Sockets: /proc/net/tcp{,6}
export {
  parseProcNetTcp,
  readProcNetTcp,
  readSockets,
  scanTcpLines,
  toSocket,
  formatAddress,
  type TcpRow,
  type ParsedTable,
} from './kernel/proc-net-tcp.ts';
// Sockets: netlink sock_diag, /proc as the fallback
export {
  scanSocketTable,
  SOCKET_SOURCES,
  type SocketSource,
  type TableScan,
  type TableScanRequest,
} from './kernel/socket-table.ts';
export { parseInetDiagMessages, buildInetDiagRequest } from './kernel/inet-diag.ts';
export { readEphemeralRange, ephemeralRange, type EphemeralRange } from './kernel/ephemeral-range.ts';
export { readSocketOwners, type SocketOwner } from './kernel/processes.ts';
export { readListenBacklogs, parseSsListen } from './kernel/listen-backlog.ts';
export { compileFilter, parsePeer, type SocketFilter } from './analyze/socket-filter.ts';
export {
  SummaryBuilder,
  type SocketSummary,
  type Listener,
  type DestinationPorts,
  type EphemeralUse,
} from './analyze/socket-summary.ts';
export {
  GROUP_KEYS,
  SORT_KEYS,
  type SortKey,
  type SocketQuery,
  type SocketReport,
  type GroupKey,
  type Group,
} from './analyze/socket-query.ts';
export { querySockets } from './host/socket-query.ts';

// Counters: /proc/net/snmp, netstat, sockstat{,6}
export { parseSnmp, readSnmp } from './kernel/snmp.ts';
export { parseSockstat, readSockstat } from './kernel/sockstat.ts';
export { readCounters } from './kernel/counters.ts';
export { absoluteRows, intervalRows, type CounterRow } from './analyze/counter-delta.ts';
export { meaningOf, type CounterMeaning } from './analyze/counter-meanings.ts';

// Sysctls and limits
export { readSysctl, readSysctls, parseSysctlValue, type SysctlReading, type SysctlValue } from './kernel/sysctl.ts';
export { readOpenFilesLimit, parseOpenFilesLimit, type OpenFilesLimit } from './kernel/limits.ts';
export { SYSCTL_CATALOG, PROFILES, findKnob, type KnobInfo, type Profile } from './analyze/sysctl-catalog.ts';
export {
  buildSysctlReport,
  emitSysctlConf,
  planApply,
  type SysctlReport,
  type KnobRow,
} from './analyze/sysctl-advice.ts';

// Load generation
export { runBench, type BenchOptions, type Progress } from './bench/run.ts';
export { mergeResults } from './bench/merge.ts';
export type { BenchResult, KernelFootprint, Percentiles, TimeWaitReuse, Verdict } from './model/bench-result.ts';
export { ResponseParser } from './http/response-parser.ts';

// Servers: observe, harden, shut down, scale, TLS, debug
export {
  observeConnections,
  observerOf,
  type ConnectionObserver,
  type ConnectionInfo,
  type ConnState,
  type StateCounts,
} from './serve/conn-state.ts';
export { hardenServer, hardenedSettings, type HardenOptions, type HardenResult } from './serve/harden.ts';
export { gracefulShutdown, type ShutdownResult } from './serve/graceful.ts';
export { startWorkers, reusePortSupported, type WorkersOptions, type WorkersHandle } from './serve/workers.ts';
export { createTlsServer, type TlsServer, type TlsServerOptions } from './serve/tls.ts';
export { tlsStats, type TlsStats } from './serve/tls-handshakes.ts';
export { selfSignedCertificate } from './http/self-signed.ts';
export { debugRoutes, type DebugRoutesOptions } from './serve/debug.ts';
export { createServerMetrics, type ServerMetrics } from './serve/metrics.ts';
export { createServeServer, type ServeSettings } from './serve/serve.ts';

// Clients
export { createPool, type PoolOptions, type PoolStats, type TcplensPool } from './pool/pool.ts';
export { probe, type ProbeOptions, type ProbeResult, type ProbeRequest } from './probe/probe.ts';

// Fault injection
export { createProxyServer, type ProxyServer, type ProxyServerOptions, type ProxyConfig } from './proxy/server.ts';
export type { ProxyHandle, ProxyJson, ProxyStats, ToxicStats } from './proxy/proxy.ts';
export type { ToxicConfig, ToxicJson } from './proxy/toxic-set.ts';
export { ApiError } from './proxy/api-error.ts';

// Watching a host: one sample, Prometheus metrics of it, a live page
export { takeHostSample, type HostSample } from './host/sample.ts';
export { createSampler, type Sampler, type SamplerOptions } from './host/sampler.ts';
export { createHostMetrics, type HostMetrics, type HostMetricsOptions } from './observe/exporter.ts';
export { startExporter, type Exporter, type ExporterOptions } from './observe/exporter-server.ts';
export { startDashboard, type DashboardOptions, type DashboardHandle } from './observe/dashboard.ts';

// Tracing
export { startTrace, type StartTraceOptions } from './trace/trace.ts';
export type { TraceEvent, TraceEventType, TraceEventKind, TraceFilter, TraceHandle, TraceSink } from './trace/event.ts';
export { TraceSummaryBuilder, summarizeTrace, type TraceSummary } from './trace/summary.ts';
