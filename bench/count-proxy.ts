// A TCP proxy in front of an AWS-protocol HTTP server that counts requests by action, open requests and connections.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface ActionCounts {
  /** Requests sent per action since the proxy started. */
  sent: Record<string, number>;
  /** Requests sent and not yet answered, per action. */
  open: Record<string, number>;
  /** Answered requests per action and their summed latency (ms). */
  answered: Record<string, { n: number; ms: number; maxMs: number }>;
  /** Client connections open now, and ever. */
  connections: number;
  connectionsEver: number;
  /** Open requests whose client connection closed before the answer (an abandoned long poll, say). */
  abandoned: Record<string, number>;
}

export interface CountProxy {
  port: number;
  counts(): ActionCounts;
  close(): Promise<void>;
}

// The SDK names the action in a header for JSON-protocol services (SQS) and in the form body for query ones (SNS).
const TARGET = /x-amz-target:\s*[A-Za-z0-9_]+\.([A-Za-z]+)/gi;
const ACTION = /(?:^|[&\r\n])Action=([A-Za-z]+)/g;
const REQUEST_LINE = /(?:^|\r\n)(?:POST|GET|PUT|DELETE|HEAD) \S+ HTTP\/1\.[01]\r\n/g;
const STATUS_LINE = /(?:^|\r\n)HTTP\/1\.[01] \d{3} /g;

export async function startCountProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<CountProxy> {
  const counts: ActionCounts = { sent: {}, open: {}, answered: {}, connections: 0, connectionsEver: 0, abandoned: {} };
  const bump = (map: Record<string, number>, key: string, by = 1) => (map[key] = (map[key] ?? 0) + by);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    counts.connections++;
    counts.connectionsEver++;
    const upstream = connect({ host: targetHost, port: targetPort });
    sockets.add(client).add(upstream);
    // Requests on this connection waiting for their answer, oldest first (HTTP/1.1 answers in order).
    const waiting: { action: string; at: number }[] = [];
    // A request's headers and body can straddle chunks: the action is looked for in what came since the request line.
    let pendingText = "";
    let pendingRequests = 0;
    const flushActions = () => {
      const actions = [...pendingText.matchAll(TARGET)].map((m) => m[1]!).concat([...pendingText.matchAll(ACTION)].map((m) => m[1]!));
      while (pendingRequests > 0 && actions.length > 0) {
        const action = actions.shift()!;
        pendingRequests--;
        bump(counts.sent, action);
        bump(counts.open, action);
        waiting.push({ action, at: performance.now() });
      }
      if (pendingRequests === 0) pendingText = "";
    };
    client.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1");
      pendingRequests += [...text.matchAll(REQUEST_LINE)].length;
      pendingText += text;
      if (pendingText.length > 1 << 20) pendingText = pendingText.slice(-65536);
      flushActions();
    });
    upstream.on("data", (chunk: Buffer) => {
      const answers = [...chunk.toString("latin1").matchAll(STATUS_LINE)].length;
      for (let i = 0; i < answers; i++) {
        const w = waiting.shift();
        if (!w) break;
        bump(counts.open, w.action, -1);
        const a = (counts.answered[w.action] ??= { n: 0, ms: 0, maxMs: 0 });
        const ms = performance.now() - w.at;
        a.n++;
        a.ms += ms;
        a.maxMs = Math.max(a.maxMs, ms);
      }
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      counts.connections--;
      // What the server was still working on for this client: it keeps running there, answered to nobody.
      for (const w of waiting.splice(0)) {
        bump(counts.open, w.action, -1);
        bump(counts.abandoned, w.action);
      }
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("close", () => {
        sockets.delete(s);
        end();
      });
      s.on("error", end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
  return {
    port,
    counts: () => structuredClone(counts),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
