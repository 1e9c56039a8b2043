// --ebpf of the exporter and the dashboard: a long-running trace of drops and resets by reason, or
// one line saying why there is none (not root, no bpftrace, a kernel without the tracepoints).

import { TcplensError } from '../errors.ts';
import type { ReasonTally } from '../trace/reason-tally.ts';

/** The trace's own advice to sample /proc instead (its --fallback) is no option of the commands that trace in the background. */
export function withoutFallbackAdvice(message: string): string {
  return message.replace(/,? or use --fallback\b[^;]*/, '');
}

export interface EbpfStart {
  tally?: ReasonTally;
  /** Why there is no trace: for the one line on stderr, the JSON start line and the page. */
  why?: string;
}

/** Start the trace, or say why not; a failure of ours (not the host's) still throws. */
export async function startEbpf(
  o: { ports?: number[] },
  command: string,
  notice: (text: string) => void,
): Promise<EbpfStart> {
  const { startReasonTally } = await import('../trace/reason-tally.ts');
  try {
    const tally = await startReasonTally({ ports: o.ports }, notice, (why) =>
      notice(`--ebpf: the trace ended (${why}); drops and resets by reason stop counting here`),
    );
    return { tally };
  } catch (err) {
    if (!(err instanceof TcplensError)) throw err;
    const why = `--ebpf: ${withoutFallbackAdvice(err.message)}`;
    notice(`${why}; the ${command} runs without drops and resets by reason`);
    return { why };
  }
}
