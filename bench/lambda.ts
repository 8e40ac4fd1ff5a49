// `bun run bench -- --mode=lambda`: invocations/s and records/s of ./ecom as a Lambda function on the Runtime
// Interface Emulator, storing into Cassandra (a fresh keyspace), for the order and payment roles.
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const BINARY = join(ROOT, "ecom");
const MOTO = `http://127.0.0.1:${process.env.ECOM_MOTO_PORT ?? 5000}`;
const CASSANDRA_PORT = process.env.ECOM_CASSANDRA_PORT ?? "9042";

export interface LambdaRun {
  role: string;
  batch: number;
  invocations: number;
  seconds: number;
  invocationsPerSec: number;
  recordsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

function run(cmd: string[], env: Record<string, string> = {}): string {
  const r = Bun.spawnSync(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${r.exitCode}: ${r.stderr.toString().slice(-2000)}`);
  return r.stdout.toString().trim();
}

const order = (id: number) => JSON.stringify({
  order_id: id, customer_id: 1 + (id % 5000), item: `item-${id % 97}`, quantity: 1 + (id % 3), price: 12.5, shipping_address: `${id} Main St`,
  order_status: "placed", creation_date: new Date(1_764_000_000_000 + id * 1000).toISOString(),
});
const payment = (id: number) => JSON.stringify({
  payment_id: 1_000_000 + id, order_id: id, payment_method: "card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-12-01T10:05:00Z",
});

/** An SQS event as an event source mapping sends it. */
const event = (bodies: string[], queue: string, first: number) => ({
  Records: bodies.map((body, i) => ({
    messageId: `bench-${queue}-${first + i}`, receiptHandle: "r", body, attributes: { ApproximateReceiveCount: "1" }, messageAttributes: {},
    eventSource: "aws:sqs", eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${queue}`, awsRegion: "us-east-1",
  })),
});

async function startFunction(rie: string, role: string, keyspace: string) {
  const [apiPort, port] = [await freePort(), await freePort()];
  const proc = Bun.spawn([rie, "--log-level", "error", "--runtime-api-address", `127.0.0.1:${apiPort}`, "--runtime-interface-emulator-address", `127.0.0.1:${port}`, BINARY], {
    cwd: ROOT, stdout: "ignore", stderr: "ignore",
    env: {
      ...process.env, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_LAMBDA_FUNCTION_TIMEOUT: "120",
      ECOM_ROLE: role, ECOM_TRANSPORT: "sns-sqs", ECOM_AWS_ENDPOINT: MOTO, ECOM_STORE: "cassandra", ECOM_CASSANDRA_KEYSPACE: keyspace,
      ECOM_CASSANDRA_PORT: CASSANDRA_PORT, ECOM_DATA_DIR: mkdtempSync(join(tmpdir(), "ecom-bench-lambda-")), ECOM_LOG_LEVEL: "warn", ECOM_LOG_ORDERS: "false",
    },
  });
  const url = `http://127.0.0.1:${port}/2015-03-31/functions/function/invocations`;
  const invoke = async (body: unknown) => {
    const res = await fetch(url, { method: "POST", body: JSON.stringify(body) });
    const answer = (await res.json()) as { batchItemFailures?: unknown[] };
    if (!res.ok || !Array.isArray(answer.batchItemFailures) || answer.batchItemFailures.length) throw new Error(`${role} function answered ${res.status}: ${JSON.stringify(answer).slice(0, 500)}`);
  };
  for (let i = 0; ; i++) {
    try {
      await invoke({ Records: [] });
      break;
    } catch (error) {
      if (i > 200) throw error;
      await Bun.sleep(100);
    }
  }
  return { invoke, stop: async () => { proc.kill("SIGTERM"); await proc.exited; } };
}

/** `invocations` sequential invocations (the emulator serves one at a time, as one Lambda instance does). */
async function measure(fn: { invoke(e: unknown): Promise<void> }, role: string, batch: number, invocations: number, firstId: number, body: (id: number) => string): Promise<LambdaRun> {
  const queue = role === "order" ? "order_processing_queue" : "payment_processing_queue";
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < invocations; k++) {
    const first = firstId + k * batch;
    const e = event(Array.from({ length: batch }, (_, i) => (batch ? body(first + i) : "")), queue, first);
    const s = performance.now();
    await fn.invoke(e);
    latencies.push(performance.now() - s);
  }
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { role, batch, invocations, seconds, invocationsPerSec: invocations / seconds, recordsPerSec: (invocations * batch) / seconds, p50Ms: q(0.5), p99Ms: q(0.99) };
}

export async function benchLambda(invocations: number): Promise<LambdaRun[]> {
  const rie = run([join(ROOT, "scripts", "services"), "path", "rie"]);
  if (!existsSync(BINARY)) run([process.execPath, join(ROOT, "scripts", "build.ts")]);
  const keyspace = `ecom_bench_lambda_${Math.random().toString(36).slice(2, 8)}`;
  run([BINARY, "migrate", "--store=cassandra", `--cassandra-keyspace=${keyspace}`, `--cassandra-port=${CASSANDRA_PORT}`, `--data-dir=${mkdtempSync(join(tmpdir(), "ecom-bench-"))}`]);
  const [orders, payments] = await Promise.all([startFunction(rie, "order", keyspace), startFunction(rie, "payment", keyspace)]);
  const results: LambdaRun[] = [];
  try {
    let next = 1;
    // Warm-up (JIT, prepared statements), then the measured runs; payments pay the orders written before them.
    await measure(orders, "order", 10, 50, next, order);
    await measure(payments, "payment", 10, 50, next, payment);
    next += 500;
    results.push(await measure(orders, "order", 0, invocations, 0, order));
    for (const batch of [1, 10, 100]) {
      const n = batch === 100 ? Math.max(20, Math.floor(invocations / 5)) : invocations;
      results.push(await measure(orders, "order", batch, n, next, order));
      results.push(await measure(payments, "payment", batch, n, next, payment));
      next += n * batch;
    }
  } finally {
    await Promise.all([orders.stop(), payments.stop()]);
    run([process.execPath, "-e", `
      const c = new (require("cassandra-driver").Client)({ contactPoints: ["127.0.0.1"], localDataCenter: "datacenter1", protocolOptions: { port: ${CASSANDRA_PORT} } });
      await c.connect(); await c.execute("DROP KEYSPACE IF EXISTS ${keyspace}", [], { readTimeout: 60000 }); await c.shutdown();`]);
  }
  return results;
}
