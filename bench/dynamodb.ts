// `bun run bench -- --store=dynamodb`: the pipeline on a DynamoDB endpoint (moto by default), and a bare SDK client
// writing the same final items on the same server in the same run; orders/s, latency, CPU and requests per order.
import { BatchWriteItemCommand, type WriteRequest } from "@aws-sdk/client-dynamodb";
import { loadConfig } from "../src/config/load.ts";
import { createDynamoStore, dynamoClient, requestCounts } from "../src/store/dynamodb/index.ts";
import { orderAttributes, paymentAttributes, paymentItem } from "../src/store/dynamodb/items.ts";
import { tableNames } from "../src/store/dynamodb/names.ts";
import { Limiter } from "../src/store/dynamodb/batches.ts";
import { pipelineRows } from "./cassandra-ceiling.ts";
import { cpuMeter, findServerPid, waitForQuietServer, type CpuSpent } from "./cpu.ts";
import { runPipeline, warmUp, type PipelineResult } from "./pipeline.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

/** Table management, not the data path: left out of the requests per order. */
const CONTROL = new Set(["CreateTable", "DescribeTable", "UpdateTable"]);
export const BARE_CONCURRENCY = [4, 16, 64] as const;

export interface Requests {
  total: number;
  byOp: Record<string, number>;
}

function requestsSince(before: Map<string, number>): Requests {
  const byOp: Record<string, number> = {};
  for (const [op, n] of requestCounts) {
    const d = n - (before.get(op) ?? 0);
    if (d > 0 && !CONTROL.has(op)) byOp[op] = d;
  }
  return { total: Object.values(byOp).reduce((a, b) => a + b, 0), byOp };
}

export interface BareResult {
  concurrency: number;
  seconds: number;
  ordersPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpu: CpuSpent;
  requests: number;
}

export interface DynamoBench {
  endpoint: string;
  warmups: number;
  pipeline: PipelineResult & { requests: Requests };
  bare: BareResult[];
  best: BareResult;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
const uid = () => `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}_`;

/**
 * The bare client: the final fact item of each order (its order and payment attributes, as the pipeline leaves it)
 * and its payments_by_id item, in BatchWriteItem calls of 25 with `concurrency` in flight, on fresh tables. Latency
 * is per order: from the run's start to the confirmation of the batch holding its fact item (all are ready at once).
 */
async function bareWrites(endpoint: string, n: number, seed: number, concurrency: number, serverPid: number | null): Promise<BareResult> {
  const config = loadConfig({ flags: { store: "dynamodb", "dynamodb-endpoint": endpoint, "dynamodb-table-prefix": uid() }, env: process.env }).dynamodb;
  const setup = createDynamoStore(config);
  await setup.migrate();
  await setup.close();
  const names = tableNames(config.tablePrefix);
  const client = dynamoClient(config);
  const rows = pipelineRows(seed, n);
  const batches: { table: string; items: WriteRequest[]; orders: number }[] = [];
  for (let i = 0; i < n; i += 25) {
    const slice = rows.slice(i, i + 25);
    batches.push({ table: names.facts, orders: slice.length, items: slice.map(({ order, payment }) => ({ PutRequest: { Item: { ...orderAttributes(order), ...paymentAttributes(payment) } } })) });
    batches.push({ table: names.payments, orders: 0, items: slice.map(({ payment }) => ({ PutRequest: { Item: paymentItem(payment) } })) });
  }
  await waitForQuietServer(serverPid);
  const before = new Map(requestCounts);
  const limiter = new Limiter(concurrency);
  const latencies: number[] = [];
  const started = performance.now();
  const spent = cpuMeter(serverPid);
  await Promise.all(
    batches.map((b) =>
      limiter.run(async () => {
        let pending = b.items;
        while (pending.length) {
          const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [b.table]: pending } }));
          pending = out.UnprocessedItems?.[b.table] ?? [];
        }
        const at = performance.now() - started;
        for (let k = 0; k < b.orders; k++) latencies.push(at);
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = spent();
  client.destroy();
  latencies.sort((a, b) => a - b);
  return { concurrency, seconds, ordersPerSec: n / seconds, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), cpu, requests: requestsSince(before).total };
}

export async function benchDynamo(flags: Record<string, unknown>, n: number): Promise<DynamoBench> {
  const endpoint = String(flags["dynamodb-endpoint"] ?? flags["aws-endpoint"] ?? `http://127.0.0.1:${process.env.ECOM_MOTO_PORT ?? 5000}`);
  const port = new URL(endpoint).port;
  // The moto on this endpoint's port (several may run on one machine), by its command line: moto_server -H host -p PORT.
  const serverPid = findServerPid(`-p\u0000${port}`);
  const pipelineOn = async (count: number) => {
    const before = new Map(requestCounts);
    const all = { ...flags, store: "dynamodb", "dynamodb-endpoint": endpoint, "dynamodb-table-prefix": uid(), "auto-migrate": "true" };
    const result = await runPipeline(all, count, undefined, serverPid);
    return { ...result, requests: requestsSince(before) };
  };
  const warmups = await warmUp(() => pipelineOn(Math.min(500, n)));
  const pipeline = await pipelineOn(n);
  const seed = Number(flags.seed ?? 1);
  const bare: BareResult[] = [];
  for (const c of BARE_CONCURRENCY) bare.push(await bareWrites(endpoint, n, seed, c, serverPid));
  const best = bare.reduce((a, b) => (b.ordersPerSec > a.ordersPerSec ? b : a));
  return { endpoint, warmups, pipeline, bare, best };
}
