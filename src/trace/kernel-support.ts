// Which of the asked-for events this kernel can give, from its tracepoint formats and BTF. Pure.
//
// Drops need skb:kfree_skb's `reason` (Linux 5.17+) and BTF to read the packet's headers; ended
// connections need BTF to read struct tcp_sock's byte counts. What is missing takes its events
// out, with one line saying so; every other event is traced as before.

import { UnsupportedPlatformError } from '../errors.ts';
import type { TraceEventKind } from './event.ts';
import { parseSymbolicNames } from './parse.ts';
import { dropReasonMeaning } from '../analyze/drop-reasons.ts';

export interface KernelFacts {
  /** The text of events/skb/kfree_skb/format, or undefined when the tracepoint is missing. */
  kfreeSkbFormat: string | undefined;
  /** Whether /sys/kernel/btf/vmlinux exists (bpftrace reads kernel structs through it). */
  btf: boolean;
}

export interface EventPlan {
  events: TraceEventKind[];
  /** One line per kind of event taken out, saying what the kernel lacks. */
  notices: string[];
  /** enum skb_drop_reason's names by number, from the running kernel. */
  dropReasons: Map<number, string>;
  /** Codes of reasons for packets on their way out. */
  egressDropCodes: number[];
  /** Whether kfree_skb has rx_sk (Linux 6.12+). */
  dropRxSk: boolean;
}

const hasField = (format: string, field: string) => new RegExp(`\\bfield:[^;]*\\b${field}(\\[\\d+\\])?;`).test(format);

/** The events to trace here, and a line for each asked-for kind this kernel cannot give. Throws when none is left. */
export function planEvents(asked: readonly TraceEventKind[], k: KernelFacts): EventPlan {
  const notices: string[] = [];
  let events = [...asked];
  let dropReasons = new Map<number, string>();
  const without = (kind: TraceEventKind, why: string) => {
    if (!events.includes(kind)) return;
    events = events.filter((e) => e !== kind);
    notices.push(why);
  };
  if (events.includes('drop')) {
    if (k.kfreeSkbFormat === undefined) without('drop', 'no drop events: this kernel has no tracepoint skb:kfree_skb');
    else if (!hasField(k.kfreeSkbFormat, 'reason')) {
      without('drop', "no drop events: this kernel's skb:kfree_skb has no reason field (Linux 5.17 or later has it)");
    } else if (!k.btf) {
      without(
        'drop',
        "no drop events: they need the kernel's BTF (/sys/kernel/btf/vmlinux is missing; a kernel built with CONFIG_DEBUG_INFO_BTF has it) to read the packet",
      );
    } else {
      dropReasons = parseSymbolicNames(k.kfreeSkbFormat, 'reason');
      if (dropReasons.size === 0) without('drop', "no drop events: skb:kfree_skb's format names no reasons");
    }
  }
  if (!k.btf) {
    without(
      'life',
      "no life events: they need the kernel's BTF (/sys/kernel/btf/vmlinux is missing) to read the bytes of each connection",
    );
  }
  if (events.length === 0) throw new UnsupportedPlatformError(notices.join('; '));
  const egressDropCodes = [...dropReasons].filter(([, name]) => dropReasonMeaning(name)?.egress).map(([code]) => code);
  return {
    events,
    notices,
    dropReasons,
    egressDropCodes,
    dropRxSk: k.kfreeSkbFormat !== undefined && hasField(k.kfreeSkbFormat, 'rx_sk'),
  };
}
