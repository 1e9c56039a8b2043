// Which client connections a toxic applies to: a list of addresses and CIDR blocks, matched against
// the client's address as the proxy accepted it. A toxic without a list applies to every client.

import { BlockList, isIP } from 'node:net';
import { badRequestBody } from './api-error.ts';
import { jsonType } from './json.ts';

/** More entries than a request line could usefully carry are a mistake, not a configuration. */
const MAX_CLIENTS = 1024;

/** An IPv4 address as a dual-stack socket reports it ("::ffff:127.0.0.2"), as IPv4. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export class ClientFilter {
  /** As given, for the API. */
  readonly list: readonly string[];
  private readonly blocks = new BlockList();

  constructor(list: readonly string[]) {
    this.list = list;
    for (const entry of list) {
      const slash = entry.indexOf('/');
      const address = slash < 0 ? plain(entry) : entry.slice(0, slash);
      const family = isIP(address);
      if (slash < 0) {
        this.blocks.addAddress(address, family === 6 ? 'ipv6' : 'ipv4');
      } else {
        this.blocks.addSubnet(address, Number(entry.slice(slash + 1)), family === 6 ? 'ipv6' : 'ipv4');
      }
    }
  }

  /** Whether a connection from `address` is one of ours; one whose address is unknown is not. */
  matches(address: string | undefined): boolean {
    if (address === undefined) return false;
    const a = plain(address);
    return this.blocks.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4');
  }
}

/** The `clients` field of a toxic: a list of addresses or CIDR blocks; 400 naming the entry otherwise. */
export function parseClients(v: unknown): ClientFilter | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v))
    throw badRequestBody(
      `clients must be a list of addresses or CIDR blocks ("127.0.0.2", "10.0.0.0/8"), not ${jsonType(v)}`,
    );
  if (v.length > MAX_CLIENTS) throw badRequestBody(`clients holds ${v.length} entries; at most ${MAX_CLIENTS}`);
  const list: string[] = [];
  v.forEach((entry: unknown, i) => {
    const bad = () =>
      badRequestBody(
        `clients[${i}]: ${JSON.stringify(entry)} is not an IP address or CIDR block ("127.0.0.2", "10.0.0.0/8", "fd00::/8")`,
      );
    if (typeof entry !== 'string') throw bad();
    const slash = entry.indexOf('/');
    const family = isIP(slash < 0 ? plain(entry) : entry.slice(0, slash));
    if (family === 0) throw bad();
    if (slash >= 0) {
      const bits = entry.slice(slash + 1);
      if (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128)) throw bad();
    }
    list.push(entry);
  });
  // An empty list would make a toxic that can never apply: almost surely a slip.
  if (list.length === 0) throw badRequestBody('clients is empty: leave it out to apply the toxic to every client');
  return new ClientFilter(list);
}
