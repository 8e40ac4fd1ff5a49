// The Cassandra write ceiling: the bare driver inserting order rows (prepared INSERT, executeConcurrent), to size
// the store's default concurrency and to see how close the order role gets. Run: bun bench/cassandra-ceiling.ts [rows]
import cassandra from "cassandra-driver";
import type { CassandraConfig } from "../src/config/types.ts";
import type { Order } from "../src/domain/model.ts";
import { cassandraClientOptions, createCassandraStore } from "../src/store/cassandra.ts";

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
  const client = new cassandra.Client(cassandraClientOptions(config));
  await client.connect();
  try {
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
  } finally {
    await client.shutdown();
  }
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
