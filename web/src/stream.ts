// The live stream from the dashboard's server: EventSource, which reconnects by itself, and the
// state the page shows (live, or lost and reconnecting).

import type {
  DashboardFindings,
  DashboardFrame,
  DashboardHello,
  DashboardProblem,
} from '../../src/observe/dashboard-protocol.ts';

export type StreamState = 'connecting' | 'live' | 'lost';

export interface StreamHandlers {
  onState(state: StreamState): void;
  onHello(hello: DashboardHello): void;
  onSample(frame: DashboardFrame): void;
  onFindings(findings: DashboardFindings): void;
  onProblem(problem: DashboardProblem): void;
}

export function openStream(url: string, on: StreamHandlers): void {
  let source: EventSource;
  let lastEventMs = Date.now();
  let intervalMs = 1000;
  let state: StreamState = 'connecting';
  const set = (s: StreamState) => {
    if (s !== state) on.onState((state = s));
  };
  const parse = <T>(e: Event): T => JSON.parse((e as MessageEvent<string>).data) as T;
  const connect = () => {
    source = new EventSource(url);
    source.addEventListener('hello', (e) => {
      const hello = parse<DashboardHello>(e);
      intervalMs = hello.intervalMs;
      lastEventMs = Date.now();
      set('live');
      on.onHello(hello);
    });
    source.addEventListener('sample', (e) => {
      lastEventMs = Date.now();
      set('live');
      on.onSample(parse<DashboardFrame>(e));
    });
    source.addEventListener('findings', (e) => {
      lastEventMs = Date.now();
      on.onFindings(parse<DashboardFindings>(e));
    });
    source.addEventListener('problem', (e) => {
      lastEventMs = Date.now();
      on.onProblem(parse<DashboardProblem>(e));
    });
    source.onerror = () => {
      set('lost');
      // EventSource retries network errors itself; it gives up only on an HTTP error answer
      // (a server restarting behind a proxy, say), so then we start a new one.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    };
  };
  connect();
  // A connection that stays open but goes quiet (a suspended server) is lost too.
  setInterval(() => {
    if (state === 'live' && Date.now() - lastEventMs > Math.max(5000, intervalMs * 5)) {
      set('lost');
      source.close();
      connect();
    }
  }, 1000);
}
