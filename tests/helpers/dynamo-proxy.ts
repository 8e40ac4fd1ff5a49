// An HTTP proxy in front of moto's DynamoDB that counts requests by operation and can answer some of them as a
// throttled DynamoDB would: ProvisionedThroughputExceededException, or a BatchWriteItem done in part (the rest handed
// back as UnprocessedItems, as DynamoDB does when a partition is over its throughput).
import { freePort } from "./ecom.ts";

export interface FaultPlan {
  /** Answer the n-th call (1-based, per operation) of `op` with ProvisionedThroughputExceededException. */
  throttle?: (op: string, n: number) => boolean;
  /** For the n-th BatchWriteItem: how many of its items to write (the rest come back unprocessed); all when undefined. */
  partial?: (n: number, items: number) => number | undefined;
}

export interface DynamoProxy {
  endpoint: string;
  /** Requests forwarded or answered, by operation (BatchWriteItem, UpdateItem, ...). */
  calls: Map<string, number>;
  throttled: Map<string, number>;
  /** Items handed back unprocessed, in all. */
  unprocessed: number;
  plan: FaultPlan;
  close(): void;
}

const THROTTLED = {
  __type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
  message: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
};

export async function startDynamoProxy(target: string, plan: FaultPlan = {}): Promise<DynamoProxy> {
  const port = await freePort();
  const proxy: DynamoProxy = { endpoint: `http://127.0.0.1:${port}`, calls: new Map(), throttled: new Map(), unprocessed: 0, plan, close: () => server.stop(true) };
  const bump = (m: Map<string, number>, op: string) => {
    const n = (m.get(op) ?? 0) + 1;
    m.set(op, n);
    return n;
  };
  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    async fetch(req) {
      const op = (req.headers.get("x-amz-target") ?? "").split(".").pop() || "other";
      const n = bump(proxy.calls, op);
      const headers = new Headers(req.headers);
      headers.delete("host");
      headers.delete("content-length");
      let body = await req.text();
      if (proxy.plan.throttle?.(op, n)) {
        bump(proxy.throttled, op);
        return new Response(JSON.stringify(THROTTLED), { status: 400, headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": `proxy-${n}` } });
      }
      let handBack: Record<string, unknown[]> | null = null;
      if (op === "BatchWriteItem" && proxy.plan.partial) {
        const parsed = JSON.parse(body) as { RequestItems: Record<string, unknown[]> };
        const [table, items] = Object.entries(parsed.RequestItems)[0]!;
        const keep = proxy.plan.partial(n, items.length);
        if (keep !== undefined && keep < items.length) {
          handBack = { [table]: items.slice(keep) };
          proxy.unprocessed += items.length - keep;
          parsed.RequestItems = keep > 0 ? { [table]: items.slice(0, keep) } : {};
          // moto checks no signature; a request with nothing left to write is answered here
          if (keep === 0) return Response.json({ UnprocessedItems: handBack }, { headers: { "content-type": "application/x-amz-json-1.0" } });
          body = JSON.stringify(parsed);
        }
      }
      const upstream = await fetch(target + new URL(req.url).pathname, { method: req.method, headers, body: req.method === "GET" ? undefined : body });
      const text = await upstream.text();
      if (!handBack || !upstream.ok) return new Response(text, { status: upstream.status, headers: { "content-type": upstream.headers.get("content-type") ?? "application/x-amz-json-1.0" } });
      const answer = JSON.parse(text) as { UnprocessedItems?: Record<string, unknown[]> };
      answer.UnprocessedItems = { ...(answer.UnprocessedItems ?? {}), ...handBack };
      return Response.json(answer, { headers: { "content-type": "application/x-amz-json-1.0" } });
    },
  });
  return proxy;
}
