// Issue 20's scenario on moto: a batch `produce` while the consumer process is SIGKILLed and restarted, measured.
// `bun bench/sns-kills.ts [--orders=3000] [--kills=3] [--deadline=600] [--direct] [-- extra ecom flags]`
// Prints a timeline (requests/s by action through a counting proxy, open requests, connections, moto's threads and
// CPU, whether moto answers a ListQueues sent past the proxy) and the end state. ECOM_MOTO_PORT names moto's port.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListQueuesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { UNMATCHED_ORDER_BASE, orderAt, paymentAt } from "../src/domain/generator.ts";
import { openDb } from "../src/db/open.ts";
import { findServerPid } from "./cpu.ts";
import { startCountProxy } from "./count-proxy.ts";
import { BINARY, freePort, runEcom, spawnCaptured, tempDir } from "../tests/helpers/ecom.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const argv = process.argv.slice(2);
const extra = argv.includes("--") ? argv.slice(argv.indexOf("--") + 1) : [];
const opt = (name: string, fallback: number) => Number(argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const ORDERS = opt("orders", 3000);
const UNMATCHED = Math.round(ORDERS / 30);
const DUPLICATES = Math.round(ORDERS / 30);
const KILLS = opt("kills", 3);
const DEADLINE_S = opt("deadline", 600);
const direct = argv.includes("--direct");
const motoPort = Number(process.env.ECOM_MOTO_PORT ?? 5000);
// This worktree's moto (scripts/services writes its pid), not another moto_server on the machine.
const motoPid = (() => {
  try {
    return Number(readFileSync(new URL("../.services/moto/moto.pid", import.meta.url).pathname, "utf8").trim());
  } catch {
    return findServerPid(`-p ${motoPort}`);
  }
})();

/** 3000 orders, their 3000 payments, 100 payments for orders that never come, 100 payments sent twice; mixed. */
function records(): string {
  const lines: string[] = [];
  for (let i = 1; i <= ORDERS; i++) {
    lines.push(JSON.stringify(orderAt(20, i)));
    lines.push(JSON.stringify({ ...paymentAt({ seed: 20, unmatchedRatio: 0, duplicateRatio: 0 }, i), payment_status: "completed" }));
    if (i <= DUPLICATES) lines.push(lines.at(-1)!);
  }
  for (let j = ORDERS + 1; j <= ORDERS + UNMATCHED; j++) {
    lines.push(JSON.stringify({ ...paymentAt({ seed: 20, unmatchedRatio: 0, duplicateRatio: 0 }, j), order_id: UNMATCHED_ORDER_BASE + j }));
  }
  return lines.join("\n") + "\n";
}

const proxy = direct ? null : await startCountProxy(motoPort);
const endpoint = `http://127.0.0.1:${proxy?.port ?? motoPort}`;
const id = `k${Date.now().toString(36)}`;
const flags = [
  "--transport=sns-sqs", `--aws-endpoint=${endpoint}`, "--store=cassandra", `--cassandra-keyspace=ecom_k_${id}`,
  `--sns-orders-topic=${id}_orders`, `--sns-payments-topic=${id}_payments`, `--sns-dlq-topic=${id}_dlq`, `--sns-alerts-topic=${id}_alerts`,
  `--sqs-order-queue=${id}_order_q`, `--sqs-analytics-queue=${id}_analytics_q`, `--sqs-payment-queue=${id}_payment_q`, `--sqs-dlq-queue=${id}_dlq_q`,
  ...extra,
];
const dir = tempDir("ecom-kills-");
const file = join(dir, "batch.ndjson");
writeFileSync(file, records());
const total = readFileSync(file, "utf8").trim().split("\n").length;
const t0 = performance.now();
const at = () => ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
console.log(`sns-kills: ${total} records (${ORDERS} orders, ${ORDERS + UNMATCHED} payments, ${DUPLICATES} duplicates), ${KILLS} kills, moto ${motoPort} (pid ${motoPid})${direct ? " direct" : ` via counting proxy ${proxy!.port}`}, extra ${extra.join(" ") || "none"}`);

const provision = await runEcom(["provision", ...flags, `--data-dir=${dir}`]);
if (provision.code !== 0) throw new Error(`provision failed: ${provision.stderr}`);

const consumerPort = await freePort();
const consumerArgs = ["--role=order,payment,analytics,dlq", ...flags, `--data-dir=${dir}`, `--port=${consumerPort}`, "--log-level=warn", "--log-orders=false"];
const startConsumer = () => spawnCaptured([BINARY, ...consumerArgs]);
const logs: string[] = [];
let consumer = startConsumer();
const produce = spawnCaptured([BINARY, "produce", "--from-file", file, ...flags, `--data-dir=${dir}`]);
const produceExit: { code?: number; at?: string } = {};
void produce.proc.exited.then((code) => Object.assign(produceExit, { code, at: at() }));

async function healthy(): Promise<boolean> {
  return fetch(`http://127.0.0.1:${consumerPort}/healthz`).then((r) => r.ok, () => false);
}
for (let k = 1; k <= KILLS; k++) {
  const deadline = Date.now() + 30_000;
  while (!(await healthy()) && Date.now() < deadline) await Bun.sleep(50);
  await Bun.sleep(1000);
  await consumer.kill9();
  logs.push(consumer.output());
  console.log(`${at()} s  kill -9 #${k} of the consumer`);
  consumer = startConsumer();
}

const motoSqs = new SQSClient({ region: "us-east-1", endpoint: `http://127.0.0.1:${motoPort}`, maxAttempts: 1 });
/** ms for a ListQueues straight to moto, or null when it did not answer in 10 s. */
async function probe(): Promise<number | null> {
  const start = performance.now();
  try {
    await motoSqs.send(new ListQueuesCommand({ MaxResults: 1 }), { abortSignal: AbortSignal.timeout(10_000) });
    return Math.round(performance.now() - start);
  } catch {
    return null;
  }
}
function motoProc(): { cpu: number; threads: number } {
  if (motoPid === null) return { cpu: NaN, threads: NaN };
  const stat = readFileSync(`/proc/${motoPid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const threads = Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${motoPid}/status`, "utf8"))![1]);
  return { cpu: (Number(stat[11]) + Number(stat[12])) / 100, threads };
}
const outboxDb = await openDb(dir);
const outboxPending = () => outboxDb.prepare("SELECT count(*) AS n FROM outbox").get<{ n: number }>()!.n;
async function status(): Promise<any> {
  return fetch(`http://127.0.0.1:${consumerPort}/status`).then((r) => r.json(), () => null);
}
const wanted = { orders: ORDERS, matched: ORDERS, pending: UNMATCHED };
function done(s: any): boolean {
  const c = s?.counters;
  return !!c && c.order.processed === ORDERS && c.analytics.processed === ORDERS && c.payment.matched + c.dlq.reconciled === ORDERS && c.dlq.pending === UNMATCHED;
}

let last = { t: performance.now(), sent: {} as Record<string, number>, cpu: motoProc().cpu };
let finished = false;
let maxOpen = 0;
let maxThreads = 0;
let unanswered = 0;
const short = (name: string) => name.replace("Message", "Msg").replace("Batch", "B").replace("GetQueueAttributes", "GetQAttr").replace("ChangeMsgVisibility", "ChgVis");
while ((performance.now() - t0) / 1000 < DEADLINE_S) {
  await Bun.sleep(5000);
  const now = performance.now();
  const counts = proxy?.counts();
  const moto = motoProc();
  const ms = await probe();
  if (ms === null) unanswered++;
  const s = await status();
  const secs = (now - last.t) / 1000;
  const rates = counts
    ? Object.entries(counts.sent).map(([a, n]) => [a, (n - (last.sent[a] ?? 0)) / secs] as const).filter(([, r]) => r > 0).map(([a, r]) => `${short(a)} ${r.toFixed(1)}`).join(", ")
    : "";
  const open = counts ? Object.entries(counts.open).filter(([, n]) => n > 0).map(([a, n]) => `${short(a)} ${n}`).join(", ") : "";
  const openTotal = counts ? Object.values(counts.open).reduce((a, b) => a + b, 0) : 0;
  maxOpen = Math.max(maxOpen, openTotal);
  maxThreads = Math.max(maxThreads, moto.threads);
  const c = s?.counters;
  console.log(
    `${at()} s  outbox ${outboxPending()} | stored ${c ? `orders ${c.order.processed} analytics ${c.analytics.processed} matched ${c.payment.matched}+${c.dlq.reconciled} dlq ${c.dlq.pending}` : "n/a"}` +
      ` | moto ${((moto.cpu - last.cpu) / secs).toFixed(2)} cores, ${moto.threads} threads, ListQueues ${ms === null ? "NO ANSWER in 10 s" : `${ms} ms`}` +
      (counts ? ` | conns ${counts.connections} | open ${openTotal} (${open}) | abandoned ${JSON.stringify(counts.abandoned)} | req/s ${rates}` : ""),
  );
  last = { t: now, sent: counts?.sent ?? {}, cpu: moto.cpu };
  if (produceExit.at && done(s)) {
    finished = true;
    break;
  }
}

const counts = proxy?.counts();
console.log(`produce: ${produceExit.at ? `exit ${produceExit.code} at ${produceExit.at} s` : `still running at ${at()} s`}; pipeline ${finished ? "settled" : "NOT settled"} (wanted ${JSON.stringify(wanted)})`);
console.log(`most open requests at a sample ${maxOpen}; most moto threads ${maxThreads}; samples moto did not answer ${unanswered}`);
if (counts) {
  console.log(`requests sent by action: ${JSON.stringify(counts.sent)}`);
  console.log(`answered (n, mean ms, max ms): ${Object.entries(counts.answered).map(([a, v]) => `${a} ${v.n} ${(v.ms / v.n).toFixed(0)} ${v.maxMs.toFixed(0)}`).join("; ")}`);
  console.log(`abandoned by their client: ${JSON.stringify(counts.abandoned)}; connections ever ${counts.connectionsEver}`);
}
const failures = (consumer.output() + logs.join("")).split("\n").filter((l) => l.includes("failed"));
console.log(`consumer log lines with "failed": ${failures.length}${failures.length ? `; first: ${failures[0]!.slice(0, 300)}` : ""}`);
console.log(`produce output (last 1500 chars):\n${produce.output().slice(-1500)}`);
writeFileSync(join(dir, "consumer.log"), logs.join("\n----- kill -9 -----\n") + consumer.output());
console.log(`logs in ${dir}`);
produce.proc.kill("SIGKILL");
await consumer.kill9();
motoSqs.destroy();
outboxDb.close();
await proxy?.close();
process.exit(finished ? 0 : 1);
