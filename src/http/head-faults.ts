// Request heads a server must refuse with a 400 and a close (RFC 9112 §3.2 and §6.3) that Node's
// parser lets through to the request handler:
// - more than one Host line: Node keeps the first and drops the other, so a proxy in front that
//   routes on the second and a server that answers the first disagree about which site a request
//   is for;
// - a Transfer-Encoding whose last coding is not chunked: the body's length cannot be known. Node
//   passes the head on and fails only when it reads the body, so a route that answers without
//   reading the body (serve's `/`) answered 200 first.

/** Why this request head must be refused, from Node's `rawHeaders` (name, value pairs); undefined when it is fine. */
export function requestHeadFault(rawHeaders: readonly string[]): string | undefined {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding' && !endsInChunked(rawHeaders[i + 1]!)) {
      return 'a Transfer-Encoding whose last coding is not chunked';
    }
  }
  return hosts > 1 ? 'more than one Host header' : undefined;
}

function endsInChunked(value: string): boolean {
  const last = value.slice(value.lastIndexOf(',') + 1).trim();
  return last.toLowerCase() === 'chunked';
}
