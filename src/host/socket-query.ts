// `tcplens sockets` against the live host: reads what a socket query needs (owners, the ephemeral
// range, the table, and the listeners' backlogs from ss when the table lacks them) and hands the rows
// to the pure query of analyze/socket-query.ts.

import { readEphemeralRange } from '../kernel/ephemeral-range.ts';
import { readListenBacklogs } from '../kernel/listen-backlog.ts';
import { readSocketOwners } from '../kernel/processes.ts';
import { scanSocketTable } from '../kernel/socket-table.ts';
import {
  type ListingSink,
  type SocketQuery,
  type SocketReport,
  SocketQueryPass,
  socketQueryNeeds,
} from '../analyze/socket-query.ts';

/** With a sink, a listing's sockets go to it as they are read (see ListingSink). */
export async function querySockets(query: SocketQuery = {}, sink?: ListingSink): Promise<SocketReport> {
  const needs = socketQueryNeeds(query);
  const owners = needs.owners ? readSocketOwners() : undefined;
  const pass = new SocketQueryPass(query, {
    owners,
    ephemeralRange: needs.ephemeralRange ? readEphemeralRange() : undefined,
    sink,
  });
  const scan = scanSocketTable(
    {
      families: query.families ?? ['ipv4', 'ipv6'],
      states: query.filter?.states,
      info: query.info,
      memory: query.memory,
      source: query.source,
    },
    pass.visit,
  );
  const backlogs = pass.needsBacklogs(scan) ? await readListenBacklogs() : undefined;
  return pass.report(scan, backlogs);
}
