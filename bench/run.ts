// `bun run bench [--store=cassandra] [--transport=sns-sqs|pubsub] [--n=N]`: end-to-end numbers, with ceilings where asked.
import { parseCli } from "../src/config/cli.ts";
import type { CpuSpent } from "./cpu.ts";
import { halfRate, paced, runPipeline, type PipelineResult } from "./pipeline.ts";

const argv = process.argv.slice(2);
const nArg = argv.find((a) => a.startsWith("--n="));
if (argv.includes("--mode=lambda")) {
  // The function on the Runtime Interface Emulator, against Cassandra; --n = invocations per run.
  const { benchLambda } = await import("./lambda.ts");
  const n = nArg ? Number(nArg.slice(4)) : 200;
  console.log(`ecom bench: lambda on the Runtime Interface Emulator, store=cassandra, ${n} invocations per run, cores=${navigator.hardwareConcurrency}`);
  for (const r of await benchLambda(n)) {
    const f = (x: number, d = 0) => x.toLocaleString("en-US", { maximumFractionDigits: d });
    console.log(`${r.role.padEnd(7)} batch ${String(r.batch).padStart(3)}: ${r.invocations} invocations in ${r.seconds.toFixed(2)} s | invocations/s ${f(r.invocationsPerSec, 1)} | records/s ${f(r.recordsPerSec)} | per invocation p50 ${f(r.p50Ms, 1)} ms p99 ${f(r.p99Ms, 1)} ms`);
  }
  process.exit(0);
}
const cli = parseCli(argv.filter((a) => !a.startsWith("--n=")));
const transport = (cli.flags.transport as string | undefined) ?? "local";
const store = (cli.flags.store as string | undefined) ?? "sqlite";
// moto serves a few hundred messages/s, so its default run is small.
const n = nArg
  ? Number(nArg.slice(4))
  : transport === "sns-sqs" ? 500 : transport === "pubsub" ? 10_000 : store === "sqlite" ? 100_000 : store === "dynamodb" ? 3000 : 20_000;

const fmt = (x: number | null, digits = 0) => (x === null ? "n/a" : x.toLocaleString("en-US", { maximumFractionDigits: digits }));
/** "<who> X us (Y cores)": CPU seconds spent over `count` orders or messages in `wall` seconds (null: not measured). */
const cpuText = (who: string, seconds: number | null, count: number, wall: number, digits = 0) =>
  seconds === null ? `${who} n/a` : `${who} ${fmt((seconds / count) * 1e6, digits)} us (${fmt(seconds / wall, 2)} cores)`;
const levelsText = (levels: { concurrency: number; ordersPerSec: number }[]) => levels.map((l) => `${l.concurrency}: ${fmt(l.ordersPerSec)}`).join(", ");
function print(label: string, r: PipelineResult) {
  console.log(
    `${label}: ${fmt(r.orders)} orders + ${fmt(r.payments)} payments in ${r.seconds.toFixed(2)} s | ` +
      `orders/s ${fmt(r.ordersPerSec)} | payments/s ${fmt(r.paymentsPerSec)} | messages/s ${fmt(r.messagesPerSec)} | ` +
      `produce→stored p50 ${fmt(r.p50Ms, 1)} ms p99 ${fmt(r.p99Ms, 1)} ms | peak RSS ${fmt(r.peakRssMb, 1)} MB`,
  );
  console.log(`  payments matched on arrival ${fmt(r.matched)}, reconciled after overtaking their order ${fmt(r.reconciled)}`);
  if (r.serverQuiet) console.log(`  server ${r.serverQuiet.quiet ? "idle" : "still busy"} after ${r.serverQuiet.waitedS.toFixed(1)} s of waiting before the run`);
}

/** The half-load run's line: the producer paced at half the measured rate, so latency is measured without a backlog. */
function printHalf(r: PipelineResult, rate: number, target: number | null, count: number, who: string) {
  console.log(
    `half load (producer paced at ${fmt(rate)} messages/s, half the measured rate): produce→stored p50 ${fmt(r.p50Ms, 1)} ms ` +
      `p99 ${fmt(r.p99Ms, 1)} ms${target === null ? "" : ` (target p99 < ${target} ms)`} | ${cpuText(who, r.cpu.self, count, r.cpu.wall, 1)} per message`,
  );
}

console.log(`ecom bench: transport=${transport} store=${store} n=${n} cores=${navigator.hardwareConcurrency}`);
if (store === "cassandra") {
  // Fresh migrated keyspaces per run; the ceiling is the driver alone writing the same rows, in the same process.
  const { benchCassandra } = await import("./cassandra-ceiling.ts");
  const { pipeline, warmups, ceiling, ceilings, statements, factRows, halfLoad } = await benchCassandra(cli.flags, n);
  print(`pipeline (after ${warmups} warm-up runs)`, pipeline);
  printHalf(halfLoad, halfRate(pipeline), 500, 2 * n, "ecom");
  const how = {
    single: "one prepared INSERT per row",
    batch: "unlogged batches of <= 10 partitions on one replica",
    statements: "the pipeline's own statements: order rows, then per payment its three row writes (the order's key known, as the store knows the orders it wrote), batched as the store does",
  } as const;
  for (const c of ceilings) {
    console.log(`ceiling (${c.method}, ${how[c.method]}): ${fmt(c.ordersPerSec)} orders/s at concurrency ${c.concurrency} (${levelsText(c.levels)})`);
  }
  console.log(`ceiling: driver alone, same rows (fact + orders_by_customer + payments_by_id row per order), best method: ${fmt(ceiling.ordersPerSec)} orders/s (${ceiling.method})`);
  console.log(`pipeline/ceiling: ${fmt((pipeline.ordersPerSec / ceiling.ordersPerSec) * 100, 1)}% (target >= 70%)`);
  console.log(`driver alone, ${how.statements}: ${fmt(statements.ordersPerSec)} orders/s at concurrency ${statements.concurrency} (${levelsText(statements.levels)})`);
  console.log(`pipeline/same-statements driver: ${fmt((pipeline.ordersPerSec / statements.ordersPerSec) * 100, 1)}% (what ecom's messaging, inbox and scheduling cost on top of the same Cassandra work)`);
  // Where the cores went: ecom's and Cassandra's CPU per order, in the pipeline and in the best ceiling pass.
  const perOrder = (cpu: CpuSpent, orders: number, who: string) => `${cpuText(who, cpu.self, orders, cpu.wall)} + ${cpuText("Cassandra", cpu.server, orders, cpu.wall)}`;
  console.log(`CPU per order (of ${navigator.hardwareConcurrency} cores): pipeline ${perOrder(pipeline.cpu, pipeline.orders, "ecom")}; ceiling ${perOrder(ceiling.cpu, n, "client")}; same-statements driver ${perOrder(statements.cpu, n, "client")}`);
  console.log(`for reference, fact rows alone (one INSERT per order): ${fmt(factRows.rowsPerSec)} rows/s at concurrency ${factRows.concurrency}; pipeline orders/s is ${fmt((pipeline.ordersPerSec / factRows.rowsPerSec) * 100, 1)}% of it`);
  process.exit(0);
}
if (store === "dynamodb") {
  // The pipeline on fresh tables, then the bare SDK client writing the same final items on the same server.
  const { benchDynamo } = await import("./dynamodb.ts");
  const { endpoint, warmups, pipeline, bare, best } = await benchDynamo(cli.flags, n);
  print(`pipeline (after ${warmups} warm-up runs, ${endpoint})`, pipeline);
  const per1000 = (requests: number) => fmt((requests / n) * 1000);
  const ops = Object.entries(pipeline.requests.byOp).sort((a, b) => b[1] - a[1]).map(([op, c]) => `${op} ${per1000(c)}`).join(", ");
  console.log(`  requests per 1,000 orders (each with its payment): ${per1000(pipeline.requests.total)} (${ops})`);
  const server = (cpu: CpuSpent, orders: number) => cpuText("moto", cpu.server, orders, cpu.wall);
  console.log(`  CPU per order: ${cpuText("ecom", pipeline.cpu.self, n, pipeline.cpu.wall)} + ${server(pipeline.cpu, n)}, of ${navigator.hardwareConcurrency} cores`);
  for (const b of bare) {
    console.log(
      `bare SDK client, concurrency ${b.concurrency}, final fact item + payments_by_id item per order in BatchWriteItem of 25: ${fmt(b.ordersPerSec)} orders/s | ` +
        `written p50 ${fmt(b.p50Ms, 1)} ms p99 ${fmt(b.p99Ms, 1)} ms | requests per 1,000 orders ${per1000(b.requests)} | ` +
        `CPU per order ${cpuText("client", b.cpu.self, n, b.cpu.wall)} + ${server(b.cpu, n)}`,
    );
  }
  console.log(`pipeline/bare client (best, concurrency ${best.concurrency}): ${fmt((pipeline.ordersPerSec / best.ordersPerSec) * 100, 1)}% of the orders/s, ${fmt(pipeline.requests.total / best.requests, 1)}x the requests`);
  process.exit(0);
}
if (transport === "sns-sqs" || transport === "pubsub") {
  // The pipeline over the broker, then the bare SDK moving as many messages through the same server.
  const { benchBroker, MOTO_BACKLOG } = await import("./brokers.ts");
  const { pipeline, warmups, ceiling, tried, fanout, halfLoad } = await benchBroker(transport, cli.flags, n);
  print(`pipeline (after ${warmups} warm-up runs)`, pipeline);
  printHalf(halfLoad, halfRate(pipeline), transport === "pubsub" ? 250 : null, 2 * n, "ecom");
  if (transport === "sns-sqs") console.log(`  (pipeline with --sqs-max-backlog=${cli.flags["sqs-max-backlog"] ?? MOTO_BACKLOG}: the relay holds publishes back while a queue of the topic holds more)`);
  const rates = (c: { publishPerSec: number; consumePerSec: number; endToEndPerSec: number }) =>
    `publish ${fmt(c.publishPerSec)}/s, consume+ack ${fmt(c.consumePerSec)}/s, end to end ${fmt(c.endToEndPerSec)} messages/s`;
  for (const c of tried) console.log(`  bare ${transport} client, one queue/subscription, ${c.setting}: ${rates(c)}`);
  console.log(`ceiling: bare ${transport} client, ${fmt(2 * n)} messages through one queue/subscription (best of the above): ${rates(ceiling)}`);
  console.log(
    `fan-out ceiling: bare ${transport} client on the pipeline's shape (${fmt(n)} to a topic with 2 queues/subscriptions, ${fmt(n)} to one with 1; ` +
      `${fmt(3 * n)} deliveries), ${fanout.setting}: ${rates(fanout)}`,
  );
  console.log(`pipeline/ceiling (messages/s end to end): ${fmt((pipeline.messagesPerSec / ceiling.endToEndPerSec) * 100, 1)}% (target >= 70%)`);
  console.log(`pipeline/fan-out ceiling (same shape): ${fmt((pipeline.messagesPerSec / fanout.endToEndPerSec) * 100, 1)}%`);
  const { cpu } = pipeline;
  const server = cpuText(transport === "pubsub" ? "emulator" : "moto", cpu.server, 2 * n, cpu.wall);
  console.log(`CPU per message in the pipeline: ${cpuText("ecom", cpu.self, 2 * n, cpu.wall)} + ${server}, of ${navigator.hardwareConcurrency} cores`);
  if (fanout.clientCpuUs !== undefined) {
    // The bare client on the pipeline's shape pays the library's own cost per message (publish, stream, lease, ack);
    // what ecom spends above it is its own (parsing, SQLite outbox and inbox, the roles' work).
    const ecomUs = (cpu.self / (2 * n)) * 1e6;
    console.log(
      `client library alone on the pipeline's shape (bare client, same run): ${fmt(fanout.clientCpuUs, 1)} us per message; ` +
        `ecom above it: ${fmt(ecomUs - fanout.clientCpuUs, 1)} us (target: ecom <= 40 us per message)`,
    );
  }
  process.exit(0);
}
// Warm-up run (JIT, page cache), then the measured one.
await runPipeline(cli.flags, Math.min(5000, n));
const result = await runPipeline(cli.flags, n);
print("pipeline", result);
console.log(`CPU per message: ${cpuText("ecom", result.cpu.self, 2 * n, result.cpu.wall, 1)}, of ${navigator.hardwareConcurrency} cores`);
printHalf(await runPipeline(paced(cli.flags, halfRate(result)), n), halfRate(result), 250, 2 * n, "ecom");
process.exit(0);
