// The Cassandra write ceiling: the bare driver inserting rows (prepared INSERT, executeConcurrent), to size the
// store's default concurrency and to see how close the pipeline gets. Run: bun bench/cassandra-ceiling.ts [rows]
import cassandra from "cassandra-driver";
import type { CassandraConfig } from "../src/config/types.ts";
import { orderAt, paymentAt } from "../src/domain/generator.ts";
import type { Order, Payment } from "../src/domain/model.ts";
import { cassandraClientOptions, createCassandraStore, replicaBatches, replicaChunks, replicaOf, type Routed } from "../src/store/cassandra/index.ts";
import { cpuMeter, findServerPid, waitForQuietServer, type CpuSpent } from "./cpu.ts";
import { benchConfig, halfRate, paced, runPipeline, warmUp, type PipelineResult } from "./pipeline.ts";

export const CONCURRENCY_LEVELS = [32, 64, 128, 256, 512] as const;

export interface CeilingLevel {
  concurrency: number;
  rowsPerSec: number;
}

/** Timed passes per level; the best counts (the box may be shared, and a pass can be hit by a compaction). */
const PASSES = 2;

/**
 * Inserts `rows` into `<keyspace>.orders_payments_facts` at each level of CONCURRENCY_LEVELS and returns the best
 * level, plus every level measured. One untimed pass first prepares the statement, opens the connections and
 * warms both JITs (without it the first levels measure the server's warm-up). The keyspace must be migrated.
 */
export async function measureCassandraCeiling(
  config: CassandraConfig,
  rows: Order[],
): Promise<{ rowsPerSec: number; concurrency: number; levels: CeilingLevel[] }> {
  return withClient(config, async (client) => {
    const query =
      `INSERT INTO ${config.keyspace}.orders_payments_facts ` +
      "(order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    const L = cassandra.types.Long;
    const params = rows.map((o) => [L.fromNumber(o.order_id), L.fromNumber(o.customer_id), o.item, L.fromNumber(o.quantity), o.price, o.shipping_address, o.order_status, o.creation_date]);
    const run = (concurrencyLevel: number, batch: unknown[][]) =>
      cassandra.concurrent.executeConcurrent(client, query, batch, { concurrencyLevel, executionProfile: "write", raiseOnFirstError: true });

    await run(128, params);
    const levels: CeilingLevel[] = [];
    for (const concurrency of CONCURRENCY_LEVELS) {
      let bestMs = Infinity;
      for (let pass = 0; pass < PASSES; pass++) {
        const started = performance.now();
        await run(concurrency, params);
        bestMs = Math.min(bestMs, performance.now() - started);
      }
      levels.push({ concurrency, rowsPerSec: Math.round(params.length / (bestMs / 1000)) });
    }
    const best = levels.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
    return { ...best, levels };
  });
}

/** Runs `fn` with a connected driver client, shut down afterwards. */
async function withClient<T>(config: CassandraConfig, fn: (client: cassandra.Client) => Promise<T>): Promise<T> {
  const client = new cassandra.Client(cassandraClientOptions(config));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.shutdown();
  }
}

/** What a pipeline run of `n` orders and `n` payments (none unmatched) ends with: each order and its payment. */
export function pipelineRows(seed: number, n: number): { order: Order; payment: Payment }[] {
  const opts = { seed, unmatchedRatio: 0, duplicateRatio: 0 };
  return Array.from({ length: n }, (_, i) => ({ order: orderAt(seed, i + 1), payment: paymentAt(opts, i + 1) }));
}

export interface SameRowsCeiling {
  ordersPerSec: number;
  concurrency: number;
  method: CeilingMethod;
  levels: { concurrency: number; ordersPerSec: number }[];
  /** CPU of the best timed pass: the client's and Cassandra's. */
  cpu: CpuSpent;
}

/**
 * Runs `run(concurrency)` PASSES times at each level, keeping each level's fastest pass (with its CPU), and returns the
 * best level: orders/s for `orders` orders a pass.
 */
async function bestLevel(
  method: CeilingMethod,
  concurrencies: readonly number[],
  orders: number,
  run: (concurrency: number) => Promise<void>,
  serverPid: number | null,
): Promise<SameRowsCeiling> {
  const levels: (SameRowsCeiling["levels"][number] & { cpu: CpuSpent })[] = [];
  for (const concurrency of concurrencies) {
    let best: CpuSpent | null = null;
    for (let pass = 0; pass < PASSES; pass++) {
      const spent = cpuMeter(serverPid);
      await run(concurrency);
      const pass = spent();
      if (!best || pass.wall < best.wall) best = pass;
    }
    levels.push({ concurrency, ordersPerSec: Math.round(orders / best!.wall), cpu: best! });
  }
  const best = levels.reduce((a, b) => (b.ordersPerSec > a.ordersPerSec ? b : a));
  return { ordersPerSec: best.ordersPerSec, concurrency: best.concurrency, cpu: best.cpu, method, levels: levels.map(({ concurrency, ordersPerSec }) => ({ concurrency, ordersPerSec })) };
}

/** How the driver sends the rows: one prepared INSERT per row, or unlogged batches of rows sharing a replica. */
/**
 * How the driver sends the rows: one prepared INSERT per row, or unlogged batches of rows sharing a replica (the rows
 * the run ends with); or the pipeline's own statements (see measureSameStatementsCeiling).
 */
export type CeilingMethod = "single" | "batch" | "statements";
/** Requests in flight tried for batches (each carries up to 10 rows, so fewer are needed than for single rows). */
export const BATCH_CONCURRENCY_LEVELS = [8, 16, 32, 64, 128] as const;

/**
 * The driver alone writing the rows a pipeline run ends with, into `<keyspace>` (migrated): per order its fact row with
 * the payment set, its orders_by_customer row and its payments_by_id row, as prepared INSERTs, either one request per
 * row through executeConcurrent (`single`) or in unlogged batches of rows owned by one replica, at most 10 partitions
 * and 4 KiB each, the grouping the store uses (`batch`); at each concurrency level (best of PASSES timed passes after
 * an untimed one). The best level is the ceiling of that method, in orders/s (three rows each).
 */
export async function measureSameRowsCeiling(
  config: CassandraConfig,
  rows: { order: Order; payment: Payment }[],
  method: CeilingMethod = "single",
  serverPid: number | null = null,
): Promise<SameRowsCeiling> {
  return withClient(config, async (client) => {
    const ks = config.keyspace;
    const cols = "customer_id, item, quantity, price, shipping_address, order_status, creation_date, payment_id, payment_method, card_last_four, payment_status, payment_datetime";
    const fact = `INSERT INTO ${ks}.orders_payments_facts (order_id, ${cols}) VALUES (${Array(13).fill("?").join(", ")})`;
    const byCustomer = `INSERT INTO ${ks}.orders_by_customer (order_id, ${cols}) VALUES (${Array(13).fill("?").join(", ")})`;
    const byId = `INSERT INTO ${ks}.payments_by_id (payment_id, order_id, payment_method, card_last_four, payment_status, payment_datetime) VALUES (?, ?, ?, ?, ?, ?)`;
    const L = cassandra.types.Long.fromNumber;
    const statements = rows.flatMap(({ order: o, payment: p }) => {
      const values = [L(o.customer_id), o.item, L(o.quantity), o.price, o.shipping_address, o.order_status, o.creation_date, L(p.payment_id), p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime];
      return [
        { query: fact, params: [L(o.order_id), ...values], partition: `f${o.order_id}`, key: L(o.order_id) },
        { query: byCustomer, params: [L(o.order_id), ...values], partition: `c${o.customer_id}`, key: L(o.customer_id) },
        { query: byId, params: [L(p.payment_id), L(o.order_id), p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime], partition: `p${p.payment_id}`, key: L(p.payment_id) },
      ];
    });
    const batches = replicaBatches(statements, replicaOf(client, ks));
    const batchOptions = { prepare: true, logged: false, executionProfile: "write" };
    const run = async (concurrencyLevel: number) => {
      if (method === "single") {
        await cassandra.concurrent.executeConcurrent(client, statements, { concurrencyLevel, executionProfile: "write", raiseOnFirstError: true });
        return;
      }
      let next = 0;
      const worker = async () => {
        while (next < batches.length) {
          const batch = batches[next++]!;
          await (batch.length === 1 ? client.execute(batch[0]!.query, batch[0]!.params, { prepare: true, executionProfile: "write" }) : client.batch(batch, batchOptions));
        }
      };
      await Promise.all(Array.from({ length: concurrencyLevel }, worker));
    };
    await run(method === "single" ? 128 : 32);
    return await bestLevel(method, method === "single" ? CONCURRENCY_LEVELS : BATCH_CONCURRENCY_LEVELS, rows.length, run, serverPid);
  });
}

/**
 * The driver alone doing the pipeline's own work for the same orders and payments, with nothing else: per order its
 * fact row and orders_by_customer row (order columns), then per payment the payment set on the fact row, the
 * orders_by_customer row and in payments_by_id, with the order's key known (as the store knows the keys of the orders it
 * wrote, so the pipeline, running every role in one process, reads none); the same statements and the same grouping
 * (unlogged batches of <= 10 partitions on one replica) as the store, all orders first, then all payments in chunks of
 * 50, at each concurrency level (requests, or chunks, in flight). In orders/s.
 */
export async function measureSameStatementsCeiling(
  config: CassandraConfig,
  rows: { order: Order; payment: Payment }[],
  serverPid: number | null = null,
): Promise<SameRowsCeiling> {
  return withClient(config, async (client) => {
    const ks = config.keyspace;
    const L = cassandra.types.Long.fromNumber;
    const insertFact = `INSERT INTO ${ks}.orders_payments_facts (order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
    const insertByCustomer = `INSERT INTO ${ks}.orders_by_customer (customer_id, creation_date, order_id, item, quantity, price, shipping_address, order_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
    const setPayment = `UPDATE ${ks}.orders_payments_facts SET payment_id = ?, payment_method = ?, card_last_four = ?, payment_status = ?, payment_datetime = ? WHERE order_id = ?`;
    const setPaymentByCustomer = `UPDATE ${ks}.orders_by_customer SET payment_id = ?, payment_method = ?, card_last_four = ?, payment_status = ?, payment_datetime = ? WHERE customer_id = ? AND creation_date = ? AND order_id = ?`;
    const insertById = `INSERT INTO ${ks}.payments_by_id (payment_id, order_id, payment_method, card_last_four, payment_status, payment_datetime) VALUES (?, ?, ?, ?, ?, ?)`;
    const replicas = replicaOf(client, ks);
    const orderStatements: Routed[] = rows.flatMap(({ order: o }) => {
      const values = [o.item, L(o.quantity), o.price, o.shipping_address, o.order_status];
      return [
        { query: insertFact, params: [L(o.order_id), L(o.customer_id), ...values, o.creation_date], partition: `f${o.order_id}`, key: L(o.order_id) },
        { query: insertByCustomer, params: [L(o.customer_id), o.creation_date, L(o.order_id), ...values], partition: `c${o.customer_id}`, key: L(o.customer_id) },
      ];
    });
    const orderBatches = replicaBatches(orderStatements, replicas);
    const rowOf = new Map(rows.map((r) => [r.order.order_id, r]));
    const keyChunks = replicaChunks(rows.map(({ order: o }) => L(o.order_id)), replicas, 50);
    const options = { prepare: true, logged: false, isIdempotent: true, executionProfile: "write" };
    const send = (batch: Routed[]) => (batch.length === 1 ? client.execute(batch[0]!.query, batch[0]!.params, { prepare: true, executionProfile: "write" }) : client.batch(batch, options));
    const pool = async <T>(tasks: T[], concurrency: number, fn: (task: T) => Promise<unknown>) => {
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < tasks.length) await fn(tasks[next++]!);
      }));
    };
    const run = async (concurrency: number) => {
      await pool(orderBatches, concurrency, send);
      await pool(keyChunks, concurrency, async (chunk) => {
        const statements: Routed[] = chunk.flatMap((id) => {
          const { order: o, payment: p } = rowOf.get(id.toNumber())!;
          const row = { customer_id: L(o.customer_id), creation_date: o.creation_date };
          const [paymentId, orderId] = [L(p.payment_id), L(p.order_id)];
          const fields = [paymentId, p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime];
          return [
            { query: setPayment, params: [...fields, orderId], partition: `f${p.order_id}`, key: orderId },
            { query: insertById, params: [paymentId, orderId, ...fields.slice(1)], partition: `p${p.payment_id}`, key: paymentId },
            { query: setPaymentByCustomer, params: [...fields, row.customer_id, row.creation_date, orderId], partition: `c${row.customer_id.toString()}`, key: row.customer_id },
          ];
        });
        await Promise.all(replicaBatches(statements, replicas).map(send));
      });
    };
    await run(32);
    return await bestLevel("statements", BATCH_CONCURRENCY_LEVELS, rows.length, run, serverPid);
  });
}

export interface CassandraBench {
  pipeline: PipelineResult;
  /** Warm-up runs before the measured one. */
  warmups: number;
  /** The better of the two methods writing the rows the run ends with: the headline ceiling. */
  ceiling: SameRowsCeiling;
  /** Both methods measured. */
  ceilings: SameRowsCeiling[];
  /** The driver alone doing the pipeline's own reads and writes. */
  statements: SameRowsCeiling;
  /** The fact-table-only ceiling (one INSERT per order), for reference. */
  factRows: { rowsPerSec: number; concurrency: number };
  /** The pipeline again, paced at half the measured run's rate (latency without a backlog). */
  halfLoad: PipelineResult;
}

/** Runs `fn` on a fresh keyspace, migrated first and dropped afterwards. */
export async function withFreshKeyspace<T>(config: CassandraConfig, fn: (config: CassandraConfig) => Promise<T>): Promise<T> {
  const fresh = { ...config, keyspace: `ecom_bench_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}` };
  const store = await createCassandraStore(fresh);
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  try {
    return await fn(fresh);
  } finally {
    const admin = new cassandra.Client(cassandraClientOptions(fresh));
    await admin.execute(`DROP KEYSPACE IF EXISTS ${fresh.keyspace}`, [], { readTimeout: 60_000 }).finally(() => admin.shutdown());
  }
}

/**
 * `bun run bench --store=cassandra`: warm-up runs until the rate settles (see warmUp) and a measured pipeline run, each on
 * a fresh migrated keyspace, then the ceilings measured in the same process on fresh keyspaces of their own.
 */
export async function benchCassandra(flags: Record<string, unknown>, n: number): Promise<CassandraBench> {
  const base = benchConfig(flags, n, "/tmp").cassandra;
  // A Cassandra on this machine (the project's own, or any CassandraDaemon): its CPU is counted beside ecom's.
  const serverPid = findServerPid("org.apache.cassandra.service.CassandraDaemon");
  const pipelineOn = (count: number, runFlags = flags) =>
    withFreshKeyspace(base, (fresh) => runPipeline({ ...runFlags, "cassandra-keyspace": fresh.keyspace }, count, undefined, serverPid));
  const warmups = await warmUp(() => pipelineOn(n));
  const pipeline = await pipelineOn(n);
  const halfLoad = await pipelineOn(n, paced(flags, halfRate(pipeline)));
  const seed = benchConfig(flags, n, "/tmp").producer.seed;
  /** A ceiling on a fresh keyspace, measured once the server idles. */
  const onQuietServer = <T>(measure: (fresh: CassandraConfig) => Promise<T>) =>
    withFreshKeyspace(base, async (fresh) => {
      await waitForQuietServer(serverPid);
      return measure(fresh);
    });
  const ceilings: SameRowsCeiling[] = [];
  for (const method of ["single", "batch"] as const) {
    ceilings.push(await onQuietServer((fresh) => measureSameRowsCeiling(fresh, pipelineRows(seed, n), method, serverPid)));
  }
  const ceiling = ceilings.reduce((a, b) => (b.ordersPerSec > a.ordersPerSec ? b : a));
  const statements = await onQuietServer((fresh) => measureSameStatementsCeiling(fresh, pipelineRows(seed, n), serverPid));
  const factRows = await withFreshKeyspace(base, (fresh) => measureCassandraCeiling(fresh, pipelineRows(seed, n).map((r) => r.order)));
  return { pipeline, warmups, ceiling, ceilings, statements, factRows: { rowsPerSec: factRows.rowsPerSec, concurrency: factRows.concurrency }, halfLoad };
}

/** Deterministic order rows (the shape the producer emits). */
export function benchOrders(count: number): Order[] {
  const statuses = ["created", "paid", "shipped", "delivered"];
  return Array.from({ length: count }, (_, i) => ({
    order_id: 1_000_000 + i,
    customer_id: 1 + (i % 5000),
    item: `item-${i % 100}`,
    quantity: 1 + (i % 5),
    price: Math.round((5 + (i % 500) * 1.37) * 100) / 100,
    shipping_address: `${i % 999} Bench Street, Springfield`,
    order_status: statuses[i % statuses.length]!,
    creation_date: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
  }));
}

/** The store's own upsertOrders (fact row + orders_by_customer row per order) at `concurrency`, in orders/s. */
async function measureStore(config: CassandraConfig, rows: Order[], concurrency: number): Promise<number> {
  const store = await createCassandraStore({ ...config, concurrency });
  try {
    await store.upsertOrders(rows.slice(0, 2000));
    let bestMs = Infinity;
    for (let pass = 0; pass < PASSES; pass++) {
      const started = performance.now();
      await store.upsertOrders(rows);
      bestMs = Math.min(bestMs, performance.now() - started);
    }
    return Math.round(rows.length / (bestMs / 1000));
  } finally {
    await store.close();
  }
}

if (import.meta.main) {
  const count = Number(process.argv[2] ?? 20_000);
  const config: CassandraConfig = {
    contactPoints: ["127.0.0.1"],
    port: 9042,
    localDc: "datacenter1",
    keyspace: "ecom_bench",
    tls: false,
    tlsInsecure: false,
    readConsistency: "LOCAL_QUORUM",
    writeConsistency: "LOCAL_QUORUM",
    requestTimeoutMs: 12_000,
    concurrency: 128,
    replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    autoMigrate: false,
  };
  const rows = benchOrders(count);
  const store = await createCassandraStore(config);
  await store.migrate();
  const ceiling = await measureCassandraCeiling(config, rows);
  console.log(`bare driver, prepared INSERT into ${config.keyspace}.orders_payments_facts, ${count} rows:`);
  for (const l of ceiling.levels) console.log(`  concurrency ${String(l.concurrency).padStart(3)}: ${l.rowsPerSec} rows/s`);
  console.log(`  best: ${ceiling.rowsPerSec} rows/s at concurrency ${ceiling.concurrency}`);
  console.log(`store.upsertOrders (fact + orders_by_customer rows), ${count} orders:`);
  for (const concurrency of CONCURRENCY_LEVELS) {
    console.log(`  concurrency ${String(concurrency).padStart(3)}: ${await measureStore(config, rows, concurrency)} orders/s`);
  }
  await store.close();
  const admin = new cassandra.Client(cassandraClientOptions(config));
  await admin.execute(`DROP KEYSPACE IF EXISTS ${config.keyspace}`);
  await admin.shutdown();
}
