// The long soak (npm run soak -- --minutes=30): --role=all at a steady rate through SIGKILLs and broker outages,
// checked at the end exactly as the e2e tests check, with RSS and SQLite file sizes printed every minute.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runEcom, startEcom, tempDir, type Running } from "../tests/helpers/ecom.ts";
import { expectedRun } from "../tests/helpers/expected.ts";
import { startProxy, type Proxy } from "../tests/helpers/proxy.ts";
import { verifyFinal, waitForCompletion } from "../tests/helpers/verify.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    rate: { type: "string", default: "100" },
    "kill-every": { type: "string", default: "120" },
    "broker-every": { type: "string", default: "300" },
    "broker-outage": { type: "string", default: "20" },
    broker: { type: "string", default: "pubsub" },
    store: { type: "string", default: "cassandra" },
    seed: { type: "string", default: "18" },
  },
});
const usage = `usage: npm run soak -- [--minutes=30] [--rate=100] [--kill-every=120] [--broker-every=300] [--broker-outage=20]
       [--broker=pubsub|local] [--store=cassandra|sqlite] [--seed=18]   (seconds; rate in messages/s)`;
const num = (name: keyof typeof values, min: number) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < min) {
    console.error(`soak: --${name}=${values[name]} must be a number >= ${min}\n${usage}`);
    process.exit(2);
  }
  return n;
};
const MINUTES = num("minutes", 1);
const RATE = num("rate", 1);
const KILL_EVERY_S = num("kill-every", 10);
const BROKER_EVERY_S = num("broker-every", 10);
const OUTAGE_S = num("broker-outage", 1);
const SEED = num("seed", 0);
if (!["pubsub", "local"].includes(values.broker!) || !["cassandra", "sqlite"].includes(values.store!)) {
  console.error(`soak: --broker is pubsub or local, --store is cassandra or sqlite\n${usage}`);
  process.exit(2);
}
const PUBSUB_PORT = Number(process.env.ECOM_PUBSUB_PORT ?? 8085);
const CASSANDRA_PORT = Number(process.env.ECOM_CASSANDRA_PORT ?? 9042);

// The producer's stream lasts the whole soak at RATE: as many orders as payments.
const N = Math.round((RATE * MINUTES * 60) / 2);
const RUN = [`--orders=${N}`, `--payments=${N}`, "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", `--seed=${SEED}`, `--rate=${RATE}`];
const exp = expectedRun({ seed: SEED, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, N, N);

const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 60_000).toFixed(2).padStart(6)} min]`;
const say = (line: string) => console.log(`${stamp()} ${line}`);

const id = `soak${Date.now().toString(36)}`;
const dir = tempDir("ecom-soak-");
let proxy: Proxy | null = null;
const flags: string[] = [`--data-dir=${dir}`, "--visibility-timeout=10s", "--log-level=warn"];
// Processed ids are kept 5 minutes instead of 7 days, so the inbox (and with it the database file) stops growing once
// that window is full: redeliveries after a kill or an outage come back within seconds (ack deadline 10 s).
flags.push("--inbox-retention=5m");
if (values.broker === "pubsub") {
  proxy = await startProxy(PUBSUB_PORT);
  flags.push(
    "--transport=pubsub",
    `--pubsub-endpoint=127.0.0.1:${proxy.port}`,
    "--pubsub-project=ecom-soak",
    "--pubsub-ack-deadline=10",
    // Each outage costs a delivery attempt per ack deadline it lasts (see tests/e2e/brokers.test.ts).
    "--pubsub-max-delivery-attempts=30",
    ...["orders", "payments", "dlq", "alerts"].map((t) => `--pubsub-${t}-topic=${id}-${t}`),
    `--pubsub-order-sub=${id}-orders-sub`,
    `--pubsub-analytics-sub=${id}-orders-analytics-sub`,
    `--pubsub-payment-sub=${id}-payments-sub`,
    `--pubsub-dlq-sub=${id}-dlq-sub`,
  );
}
const keyspace = `ecom_soak_${id}`;
if (values.store === "cassandra") flags.push("--store=cassandra", `--cassandra-keyspace=${keyspace}`, `--cassandra-port=${CASSANDRA_PORT}`);

const sizes = () =>
  ["ecom.db", "ecom.db-wal", "ecom.db-shm"]
    .map((f) => join(dir, f))
    .map((p) => `${p.slice(dir.length + 1)} ${existsSync(p) ? (statSync(p).size / 1048576).toFixed(1) : "-"} MB`)
    .join(", ");
const rssMb = (pid: number) => {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
};

const samples: { minute: number; rss: number; db: number; wal: number }[] = [];
let app: Running | null = null;
let kills = 0;
let outages = 0;
let failed = false;

async function report(): Promise<void> {
  if (!app) return;
  const rss = rssMb(app.proc.pid);
  const db = existsSync(join(dir, "ecom.db")) ? statSync(join(dir, "ecom.db")).size / 1048576 : 0;
  const wal = existsSync(join(dir, "ecom.db-wal")) ? statSync(join(dir, "ecom.db-wal")).size / 1048576 : 0;
  samples.push({ minute: (Date.now() - t0) / 60_000, rss, db, wal });
  let counters = "";
  try {
    const s = await app.get("/status");
    const c = s.counters;
    counters = `produced ${c.producer.orders}+${c.producer.payments}/${N}+${N}, orders ${c.order.processed}, matched ${c.payment.matched + c.dlq.reconciled}, dlq pending ${c.dlq.pending}, outbox ${s.outbox.pending}`;
  } catch (error) {
    counters = `status unavailable: ${(error as Error).message}`;
  }
  say(`rss ${rss.toFixed(1)} MB (pid ${app.proc.pid}), ${sizes()}; ${counters}; kills ${kills}, broker outages ${outages}`);
}

/** Starts ecom, trying again every 5 s for 3 minutes (a start during a broker outage may not come up). */
async function start(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      app = await startEcom(["--role=all", ...RUN, ...flags]);
      return;
    } catch (error) {
      if (attempt >= 36) throw error;
      say(`ecom did not start (attempt ${attempt}): ${(error as Error).message.slice(0, 300)}; trying again in 5 s`);
      await Bun.sleep(5000);
    }
  }
}

try {
  say(`soak ${MINUTES} min: ${N} orders + ${N} payments at ${RATE} msg/s, broker ${values.broker}, store ${values.store}, data dir ${dir}`);
  say(`SIGKILL every ${KILL_EVERY_S} s, broker outage (every connection cut, ${OUTAGE_S} s) every ${BROKER_EVERY_S} s`);
  const provision = await runEcom(["provision", ...flags.filter((f) => !f.startsWith("--data-dir")), `--data-dir=${tempDir()}`]);
  if (provision.code !== 0) throw new Error(`provision failed (${provision.code}): ${provision.stderr}`);
  await start();
  const end = t0 + MINUTES * 60_000;
  let nextKill = t0 + KILL_EVERY_S * 1000;
  let nextOutage = values.broker === "pubsub" ? t0 + BROKER_EVERY_S * 1000 : Infinity;
  let nextReport = t0 + 60_000;
  let back: Promise<void> = Promise.resolve();
  await report();
  while (Date.now() < end) {
    const now = Date.now();
    if (now >= nextReport) {
      nextReport += 60_000;
      await report();
    }
    if (now >= nextKill) {
      nextKill += KILL_EVERY_S * 1000;
      const pid = app!.proc.pid;
      await app!.kill9();
      kills++;
      say(`SIGKILL pid ${pid}; starting again`);
      await start();
    }
    if (now >= nextOutage && proxy) {
      nextOutage += BROKER_EVERY_S * 1000;
      await proxy.cut();
      outages++;
      say(`broker outage ${outages}: every connection to the Pub/Sub emulator cut, refused for ${OUTAGE_S} s`);
      // On a timer, not in this loop: a restart of ecom during the outage waits here until ecom is up.
      const p = proxy;
      back = Bun.sleep(OUTAGE_S * 1000).then(() => p.restore()).then(() => say("broker back"));
    }
    await Bun.sleep(250);
  }
  await back;
  say("soak time over; waiting for the pipeline to finish");
  const report2 = setInterval(() => void report(), 60_000);
  try {
    await waitForCompletion(app!, exp, 15 * 60_000);
  } finally {
    clearInterval(report2);
  }
  await report();
  say("verifying: every fact row, its payment, the pending dead letters and the duplicate counts");
  const status = await verifyFinal(app!, exp, SEED, { redeliveries: values.broker !== "local" });
  const c = status.counters;
  say(`verified: ${N} orders, ${exp.matched.length} matched payments, ${exp.unmatchedIds.length} unmatched in /dlq; duplicates order ${c.order.duplicates} analytics ${c.analytics.duplicates} (producer's own ${exp.duplicatedOrders}), failed batches ${c.order.failed + c.payment.failed + c.analytics.failed + c.dlq.failed}`);
  const code = await app!.stop();
  app = null;
  if (code !== 0) throw new Error(`ecom exited with ${code} on SIGTERM`);
  // Levelling off: the last third of the run must not need more than the middle third did (plus 20%, at least 5 MB).
  const third = samples.filter((s) => s.minute >= MINUTES / 3 && s.minute < (2 * MINUTES) / 3);
  const last = samples.filter((s) => s.minute >= (2 * MINUTES) / 3 && s.minute <= MINUTES);
  for (const key of ["rss", "db", "wal"] as const) {
    if (third.length < 2 || last.length < 2) {
      say(`${key}: too few samples for a trend (a run of 6 minutes or more has them)`);
      continue;
    }
    const mid = Math.max(...third.map((s) => s[key]));
    const end2 = Math.max(...last.map((s) => s[key]));
    const ok = end2 <= Math.max(mid * 1.2, mid + 5);
    say(`${key}: max ${mid.toFixed(1)} MB in the middle third, ${end2.toFixed(1)} MB in the last: ${ok ? "levelled off" : "STILL GROWING"}`);
    if (!ok) failed = true;
  }
} catch (error) {
  failed = true;
  say(`FAILED: ${(error as Error).stack ?? error}`);
} finally {
  await (app as Running | null)?.kill9();
  await proxy?.close();
  if (values.store === "cassandra") {
    const { Client } = await import("cassandra-driver");
    const client = new Client({ contactPoints: ["127.0.0.1"], localDataCenter: "datacenter1", protocolOptions: { port: CASSANDRA_PORT } });
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
    await client.shutdown();
  }
}
say(failed ? "soak FAILED" : "soak passed");
process.exit(failed ? 1 : 0);
