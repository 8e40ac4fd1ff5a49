// End to end with --store=cassandra, driving the compiled binary against a real Cassandra: rows checked with CQL on
// the tables themselves, kill -9, Cassandra away for 20 s, several consumer processes, the schema check and migrate.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import cassandra from "cassandra-driver";
import { orderAt } from "../../src/domain/generator.ts";
import type { Payment } from "../../src/domain/model.ts";
import { BINARY, ROOT, freePort, runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { expectedRun, type Expected } from "../helpers/expected.ts";
import { SERVICES, serviceAvailable } from "../helpers/services.ts";
import { verifyFinal, waitForCompletion } from "../helpers/verify.ts";
import { waitFor } from "../helpers/wait.ts";

const available = await serviceAvailable("cassandra");
/** `scripts/services kill/start cassandra` work only on the node that script started (it keeps the pid here). */
const PID_FILE = join(ROOT, ".services", "cassandra", "cassandra.pid");
const OUTAGE_MS = 20_000;

const SEED = 11;
const N = 2000;
const RUN = [`--orders=${N}`, `--payments=${N}`, "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", "--rate=0", `--seed=${SEED}`];
const exp = expectedRun({ seed: SEED, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, N, N);

const keyspaces: string[] = [];
/** A fresh keyspace name (dropped in afterAll). */
function freshKeyspace(): string {
  const ks = `ecom_e2e_${Math.random().toString(36).slice(2, 10)}`;
  keyspaces.push(ks);
  return ks;
}
const storeArgs = (ks: string) => ["--store=cassandra", `--cassandra-keyspace=${ks}`, `--cassandra-port=${SERVICES.cassandra.port}`];

/** A CQL session for one check (a new one each time: a client that saw the node go down reconnects slowly). */
async function withCql<T>(fn: (client: cassandra.Client) => Promise<T>): Promise<T> {
  const client = new cassandra.Client({ contactPoints: [SERVICES.cassandra.host], localDataCenter: "datacenter1", protocolOptions: { port: SERVICES.cassandra.port } });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.shutdown();
  }
}

/** Every row of a query (all pages), int64 columns as numbers. */
async function allRows(client: cassandra.Client, query: string, params: unknown[] = []): Promise<Record<string, any>[]> {
  const rows: Record<string, any>[] = [];
  let pageState: string | undefined;
  do {
    const rs = await client.execute(query, params, { prepare: true, fetchSize: 5000, pageState });
    for (const row of rs.rows) rows.push(Object.fromEntries(row.keys().map((k) => [k, row[k] instanceof cassandra.types.Long ? row[k].toNumber() : row[k]])));
    pageState = rs.pageState ?? undefined;
  } while (pageState);
  return rows;
}

const byId = <T>(rows: T[], key: (r: T) => number | string) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/**
 * The tables themselves, read with CQL after ecom stopped: one fact row per order with exactly its payment, the same
 * order once in orders_by_customer (its columns only), exactly the matched payments in payments_by_id, and dead-letter records whose
 * indexes (by day, due) agree with them: pending = exactly the unmatched payments, every other one reconciled.
 */
async function verifyTables(ks: string, expected: Expected, seed: number): Promise<{ reconciledRecords: number }> {
  return withCql(async (client) => {
    const paymentOf = new Map(expected.matched.map((p) => [p.order_id, p]));
    const noPayment = { payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null };
    const want = Array.from({ length: expected.orders }, (_, i) => {
      const p = paymentOf.get(i + 1);
      const { order_id: _o, payment_id, ...rest } = p ?? ({} as Payment);
      return { ...orderAt(seed, i + 1), ...(p ? { payment_id, ...rest } : noPayment) };
    });

    const facts = await allRows(client, `SELECT * FROM ${ks}.orders_payments_facts`);
    expect(facts.length).toBe(expected.orders);
    expect(byId(facts, (r) => r.order_id)).toEqual(want);

    const byCustomer = await allRows(client, `SELECT * FROM ${ks}.orders_by_customer`);
    expect(byCustomer.length).toBe(expected.orders);
    // The order's columns only: a payment does not rewrite it (SPEC §6); the old payment columns stay empty.
    expect(byId(byCustomer, (r) => r.order_id)).toEqual(want.map((w) => ({ ...w, ...noPayment })));

    const payments = await allRows(client, `SELECT * FROM ${ks}.payments_by_id`);
    expect(byId(payments, (r) => r.payment_id)).toEqual(byId(expected.matched, (p) => p.payment_id));

    const records = await allRows(client, `SELECT id, reason, status, first_seen, next_retry_at, business_key, type, topic FROM ${ks}.dead_letters`);
    const unmatched = new Set(expected.unmatchedIds.map((id) => `unmatched_order.payment.${id}`));
    const matchedIds = new Set(expected.matched.map((p) => `unmatched_order.payment.${p.payment_id}`));
    for (const r of records) {
      expect([r.reason, r.type, r.topic]).toEqual(["unmatched_order", "payment", "payments"]);
      // a payment that overtook its order is reconciled; one whose order never exists stays pending
      if (unmatched.has(r.id)) expect(r.status).toBe("pending");
      else expect([r.id, matchedIds.has(r.id), r.status]).toEqual([r.id, true, "reconciled"]);
    }
    expect(records.filter((r) => r.status === "pending").map((r) => r.id).sort()).toEqual([...unmatched].sort());

    const byDay = await allRows(client, `SELECT day, first_seen, id, reason, status, next_retry_at FROM ${ks}.dead_letters_by_day`);
    const index = (r: Record<string, any>) => ({ day: r.first_seen.slice(0, 10), first_seen: r.first_seen, id: r.id, reason: r.reason, status: r.status, next_retry_at: r.next_retry_at });
    expect(byId(byDay, (r) => r.id)).toEqual(byId(records.map(index), (r) => r.id));
    const days = await allRows(client, `SELECT day FROM ${ks}.dead_letter_days WHERE bucket = 'all'`);
    expect(days.map((d) => d.day).sort()).toEqual([...new Set(byDay.map((r) => r.day))].sort());

    const due = await allRows(client, `SELECT reason, next_retry_at, id FROM ${ks}.dead_letters_due`);
    const pending = records.filter((r) => r.status === "pending");
    expect(byId(due, (r) => r.id)).toEqual(byId(pending.map((r) => ({ reason: r.reason, next_retry_at: r.next_retry_at, id: r.id })), (r) => r.id));
    for (const r of pending) expect(r.next_retry_at).toEqual(expect.any(String));
    return { reconciledRecords: records.length - pending.length };
  });
}

/** Counter totals no role may have: a batch that failed, a message the broker gave up on. */
function expectNoFailures(counters: Record<string, Record<string, number | null>>) {
  for (const [role, c] of Object.entries(counters)) expect([role, c.failed]).toEqual([role, 0]);
}

/** Runs scripts/services with `args`; throws with its output when it fails. */
async function services(...args: string[]): Promise<string> {
  const proc = Bun.spawn([join(ROOT, "scripts", "services"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`scripts/services ${args.join(" ")} exited ${code}: ${out}${err}`);
  return out + err;
}

/**
 * The dev node runs with -Dcassandra.unsafesystem=true: schema changes are never flushed, so after a SIGKILL the
 * commit log replays a new keyspace's rows into system_schema but not into the live schema, and its data is
 * skipped. A clean stop (drain flushes everything) and start makes a just-migrated keyspace survive the kill.
 */
async function makeSchemaDurable(): Promise<void> {
  const pid = readFileSync(PID_FILE, "utf8").trim();
  const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : "";
  if (!cmdline.includes("-Dcassandra.unsafesystem=true")) return;
  try {
    await services("stop", "cassandra");
  } finally {
    await services("start", "cassandra");
  }
}

/** Linux process state letter (`T` = stopped by a signal). */
const processState = (pid: number) => /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1];

/**
 * SIGKILLs Cassandra while ecom is frozen. A single node with commitlog_sync: periodic replays after a SIGKILL only
 * the commit log up to its last sync marker, written every ~100 ms: writes it acknowledged in that window are gone
 * (seen here: two payments lost whose writes Cassandra had acknowledged just before the kill; Jepsen runs kill -9
 * only with commitlog_sync: batch). That is the server's durability, not ecom's, so ecom is stopped (SIGSTOP) for 1 s,
 * ten marker intervals, before the kill and resumed after it: every write acknowledged to ecom is then replayed.
 */
async function killCassandraWithEcomPaused(app: Running): Promise<void> {
  app.proc.kill("SIGSTOP");
  try {
    const frozenAt = Date.now();
    await waitFor("ecom stopped for 1 s", () => processState(app.proc.pid) === "T" && Date.now() - frozenAt >= 1000, { timeoutMs: 10_000, intervalMs: 50 });
    await services("kill", "cassandra");
  } finally {
    app.proc.kill("SIGCONT");
  }
}

/** The /status of two processes on one data dir, as one (counters live in the shared SQLite). */
function combined(a: Running, b: Running): Running {
  return {
    ...a,
    async get(path: string) {
      if (path !== "/status") return a.get(path);
      const [sa, sb] = await Promise.all([a.get("/status"), b.get("/status")]);
      return { ...sa, counters: { ...sa.counters, ...sb.counters } };
    },
  };
}

describe.skipIf(!available)("--store=cassandra, end to end", () => {
  afterAll(async () => {
    await withCql(async (client) => {
      for (const ks of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`, [], { readTimeout: 60_000 });
    });
  }, 120_000);

  test("a keyspace without the schema: exits non-zero naming it and what to do; --auto-migrate starts; migrate twice is idempotent", async () => {
    const dir = tempDir();
    const ks = freshKeyspace();
    const port = String(await freePort());
    const missing = await runEcom(["--role=order", ...storeArgs(ks), `--data-dir=${dir}`, `--port=${port}`]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim().split("\n").at(-1)).toBe(`ecom: keyspace ${ks} does not exist: run \`ecom migrate\` or start with --auto-migrate`);

    // a keyspace with no tables: the message names the first missing table
    await withCql((c) => c.execute(`CREATE KEYSPACE ${ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`));
    const empty = await runEcom(["--role=order", ...storeArgs(ks), `--data-dir=${dir}`, `--port=${port}`]);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr.trim().split("\n").at(-1)).toBe(`ecom: keyspace ${ks} has no table orders_payments_facts: run \`ecom migrate\` or start with --auto-migrate`);

    const app = await startEcom(["--role=order", ...storeArgs(ks), "--auto-migrate", `--data-dir=${dir}`]);
    try {
      expect((await app.request("/readyz")).status).toBe(200);
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }

    const ks2 = freshKeyspace();
    const tables = ["orders_payments_facts", "orders_by_customer", "payments_by_id", "dead_letters", "dead_letters_by_day", "dead_letter_days", "dead_letters_due"];
    const lines = (action: string) => [`keyspace ${ks2}`, ...tables.map((t) => `table ${ks2}.${t}`)].map((o) => `${action.padEnd(8)} cassandra ${o}`);
    for (const [run, action] of [[1, "created"], [2, "exists"]] as const) {
      const migrate = await runEcom(["migrate", ...storeArgs(ks2), `--data-dir=${dir}`]);
      expect([run, migrate.code, migrate.stderr]).toEqual([run, 0, ""]);
      expect(migrate.stdout.trim().split("\n").filter((l) => l.includes(" cassandra "))).toEqual(lines(action));
    }
    // A table dropped is created again, and said so; a replication other than the keyspace's is reported, not applied.
    await withCql((c) => c.execute(`DROP TABLE ${ks2}.payments_by_id`, [], { readTimeout: 60_000 }));
    const other = "{'class': 'SimpleStrategy', 'replication_factor': 3}";
    const again = await runEcom(["migrate", ...storeArgs(ks2), `--cassandra-replication=${other}`, `--data-dir=${dir}`]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim().split("\n").filter((l) => l.startsWith("created") || l.includes(`keyspace ${ks2}`))).toEqual([
      `exists   cassandra keyspace ${ks2} (replication kept as {class: SimpleStrategy, replication_factor: 1}, not the ${other} asked: ecom does not alter a keyspace (ALTER KEYSPACE, then repair))`,
      `created  cassandra table ${ks2}.payments_by_id`,
    ]);
    // teardown removes the broker's resources (here the local queue) and says it keeps the keyspace, which it does.
    const refused = await runEcom(["teardown", ...storeArgs(ks2), `--data-dir=${dir}`]);
    expect([refused.code, refused.stderr.trim()]).toEqual([2, "ecom: teardown removes the local queue: confirm with --yes"]);
    const teardown = await runEcom(["teardown", "--yes", ...storeArgs(ks2), `--data-dir=${dir}`]);
    expect([teardown.code, teardown.stdout.trim().split("\n").at(-1)]).toEqual([0, `kept     cassandra keyspace ${ks2} (its data stays; DROP KEYSPACE to remove it)`]);
    expect((await withCql((c) => allRows(c, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [ks2]))).length).toBe(tables.length);
    const present = await withCql((c) => allRows(c, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [ks2]));
    expect(present.map((r) => r.table_name).sort()).toEqual([...tables].sort());
    // migrated: starting without --auto-migrate works
    const migrated = await startEcom(["--role=order", ...storeArgs(ks2), `--data-dir=${tempDir()}`]);
    try {
      expect((await migrated.request("/readyz")).status).toBe(200);
      expect(await migrated.stop()).toBe(0);
    } finally {
      migrated.proc.kill("SIGKILL");
    }
  }, 120_000);

  test("--role=all: every row in every table exactly (CQL), and the same through the API", async () => {
    const ks = freshKeyspace();
    const app = await startEcom(["--role=all", ...RUN, ...storeArgs(ks), "--auto-migrate", `--data-dir=${tempDir()}`]);
    try {
      await waitForCompletion(app, exp, 180_000);
      const status = await verifyFinal(app, exp, SEED);
      expect(status.store).toBe("cassandra");
      expect(status.counters.producer).toMatchObject({ orders: N, payments: N, duplicates: exp.duplicatedOrders + exp.duplicatedPayments });
      expect(status.counters.order.received).toBe(N + exp.duplicatedOrders);
      expect(status.counters.payment.received).toBe(N + exp.duplicatedPayments);
      expectNoFailures(status.counters);
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
    const { reconciledRecords } = await verifyTables(ks, exp, SEED);
    console.info(`cassandra e2e: ${N} orders, ${exp.matched.length} matched, ${exp.unmatchedIds.length} unmatched; ${reconciledRecords} payments overtook their order and were reconciled`);
  }, 240_000);

  test("kill -9 at several points and restart: the same totals and the same rows", async () => {
    const ks = freshKeyspace();
    const args = ["--role=all", ...RUN, ...storeArgs(ks), "--auto-migrate", `--data-dir=${tempDir()}`, "--visibility-timeout=2s"];
    const killPoints: ((s: any) => boolean)[] = [
      (s) => s.counters.producer.orders >= 400,
      (s) => s.counters.order.processed >= 1000,
      // a payment that overtook its order is applied by the dlq role: count both ways
      (s) => s.counters.payment.matched + s.counters.dlq.reconciled >= 1200,
    ];
    for (const point of killPoints) {
      const app = await startEcom(args);
      await waitFor("kill point", async () => point(await app.get("/status")), { timeoutMs: 120_000, intervalMs: 20 });
      await app.kill9();
    }
    const app = await startEcom(args);
    try {
      await waitForCompletion(app, exp, 180_000);
      const status = await verifyFinal(app, exp, SEED);
      expect(status.counters.producer).toMatchObject({ orders: N, payments: N });
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
    await verifyTables(ks, exp, SEED);
  }, 240_000);

  test("two order and two payment consumers in separate processes, the producer apart: no lost and no doubled rows", async () => {
    const ks = freshKeyspace();
    const common = [...storeArgs(ks), `--data-dir=${tempDir()}`, "--visibility-timeout=5s"];
    const procs: Running[] = [];
    try {
      // the first one creates the schema; the others find it
      procs.push(await startEcom(["--role=order,analytics", ...common, "--auto-migrate"]));
      procs.push(await startEcom(["--role=order", ...common]));
      procs.push(await startEcom(["--role=payment,dlq", ...common]));
      procs.push(await startEcom(["--role=payment", ...common]));
      const [orders, , payments] = procs as [Running, Running, Running, Running];
      const producer = await startEcom(["--role=producer", ...RUN, ...common]);
      procs.push(producer);
      const view = combined(orders, payments);
      await waitForCompletion(view, exp, 180_000);
      const status = await verifyFinal(view, exp, SEED);
      expect(status.counters.order.received).toBe(N + exp.duplicatedOrders);
      expect(status.counters.payment.received).toBe(N + exp.duplicatedPayments);
      expectNoFailures(status.counters);
      // both consumers of each role took part (the acked counter of /metrics is per process)
      const acked = await Promise.all(procs.slice(0, 4).map(async (p, i) => {
        const text = await (await p.request("/metrics")).text();
        const role = i < 2 ? "order" : "payment";
        return Number(new RegExp(`^ecom_messages_total\\{[^}]*role="${role}"[^}]*outcome="acked"[^}]*\\} (\\d+)`, "m").exec(text)?.[1] ?? 0);
      }));
      for (const n of acked) expect(n).toBeGreaterThan(0);
      expect(acked[0]! + acked[1]!).toBe(N + exp.duplicatedOrders);
      expect(acked[2]! + acked[3]!).toBe(N + exp.duplicatedPayments);
      for (const p of procs) expect(await p.stop("SIGINT")).toBe(0);
    } finally {
      for (const p of procs) p.proc.kill("SIGKILL");
    }
    await verifyTables(ks, exp, SEED);
  }, 240_000);

  // Needs the Cassandra that scripts/services started (its pid to kill); under CI it always is, so there it never skips.
  test.skipIf(!existsSync(PID_FILE) && process.env.CI !== "true")(
    `Cassandra killed for ${OUTAGE_MS / 1000} s mid-run: ecom stays up, /readyz 503 then 200, consumers hold and back off, nothing lost`,
    async () => {
      const ks = freshKeyspace();
      const dir = tempDir();
      expect((await runEcom(["migrate", ...storeArgs(ks), `--data-dir=${dir}`])).code).toBe(0);
      await makeSchemaDurable();
      // a producer at 150 messages/s: the run is about 28 s long, and the outage lands in its middle
      const args = ["--role=all", ...RUN.filter((a) => !a.startsWith("--rate")), "--rate=150", ...storeArgs(ks), `--data-dir=${dir}`, "--visibility-timeout=5s"];
      const app = await startEcom(args);
      const t0 = Date.now();
      const step = (what: string) => console.info(`outage test +${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
      let downFor = 0;
      let polls = 0;
      let heldAt: string[] = [];
      let analyticsAt = 0;
      let analyticsGrew = false;
      try {
        await waitFor("the first orders stored", async () => (await app.get("/status")).counters.order.processed >= 300, { timeoutMs: 60_000, intervalMs: 50 });
        let downAt = Date.now();
        try {
          await killCassandraWithEcomPaused(app);
          downAt = Date.now();
          step("cassandra killed");
          await waitFor("/readyz to answer 503", async () => (await app.request("/readyz")).status === 503, { timeoutMs: 15_000, intervalMs: 100 });
          // the scenario: 20 s without Cassandra, polled; every poll must find ecom up, not ready, no batch failed
          while (Date.now() - downAt < OUTAGE_MS) {
            expect(app.proc.exitCode).toBeNull();
            expect((await app.request("/healthz")).status).toBe(200);
            const ready = await app.request("/readyz");
            expect([ready.status, (await ready.json()).store]).toEqual([503, expect.stringMatching(/^unavailable: /)]);
            const status = await app.get("/status");
            expect(status.counters.dlq.pending).toBeNull();
            expectNoFailures(status.counters);
            // nothing that needs the store is acknowledged while it is away; analytics (SQLite only) keeps going
            const handled = ["order", "payment", "dlq"].map((r) => `${r} ${status.counters[r].received}`);
            if (polls === 0) [heldAt, analyticsAt] = [handled, status.counters.analytics.received];
            expect(handled).toEqual(heldAt);
            analyticsGrew = status.counters.analytics.received > analyticsAt;
            polls++;
            await Bun.sleep(250); // poll interval
          }
          downFor = Date.now() - downAt;
          expect(analyticsGrew).toBe(true);
        } finally {
          step("starting cassandra");
          await services("start", "cassandra");
          step("cassandra started");
        }
        await waitFor("/readyz to answer 200", async () => (await app.request("/readyz")).status === 200, { timeoutMs: 60_000, intervalMs: 250 });
        expect(app.proc.exitCode).toBeNull();
        step("ready again");
        await waitForCompletion(app, exp, 180_000).catch((error) => {
          console.error(app.output().slice(-4000));
          throw error;
        });
        step("complete");
        const status = await verifyFinal(app, exp, SEED);
        expectNoFailures(status.counters);
        expect(app.output()).toContain("store unavailable; holding messages and backing off");
        expect(await app.stop()).toBe(0);
      } finally {
        app.proc.kill("SIGKILL");
      }
      expect(polls).toBeGreaterThanOrEqual(5);
      await verifyTables(ks, exp, SEED);
      console.info(`cassandra outage: ${downFor} ms down, ${polls} checks (alive, /readyz 503, no failed batch) while it was`);
    },
    240_000,
  );
});
