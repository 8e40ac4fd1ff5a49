// The Cassandra store against a real Cassandra 5.0: schema, fact rows and query tables (checked with raw CQL),
// dead-letter records, and behaviour while the server is away.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import cassandra from "cassandra-driver";
import type { CassandraConfig } from "../../src/config/types.ts";
import type { DeadLetterInput, DeadLetterRecord, Order, Payment } from "../../src/domain/model.ts";
import { createCassandraStore } from "../../src/store/cassandra/index.ts";
import { SchemaMissingError, StoreError, type Store } from "../../src/store/types.ts";
import { SERVICES, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

const available = await serviceAvailable("cassandra");
const contractPath = new URL("../contract/store.contract.ts", import.meta.url).pathname;

const RUN = `ecom_test_${Math.random().toString(36).slice(2, 10)}`;
const HINT = "run `ecom migrate` or start with --auto-migrate";
/** Server outage simulated by the proxy test (the requirement: survive the server going away for 20 s). */
const OUTAGE_MS = 20_000;

function configFor(keyspace: string, overrides: Partial<CassandraConfig> = {}): CassandraConfig {
  return {
    contactPoints: [SERVICES.cassandra.host],
    port: SERVICES.cassandra.port,
    localDc: "datacenter1",
    keyspace,
    tls: false,
    tlsInsecure: false,
    readConsistency: "LOCAL_QUORUM",
    writeConsistency: "LOCAL_QUORUM",
    requestTimeoutMs: 12_000,
    concurrency: 64,
    replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    autoMigrate: false,
    ...overrides,
  };
}

const TABLES = [
  "orders_payments_facts",
  "orders_by_customer",
  "payments_by_id",
  "dead_letters",
  "dead_letters_by_day",
  "dead_letter_days",
  "dead_letters_due",
];
const migrateSteps = (ks: string, action: "created" | "exists") => [
  { action, resource: `cassandra keyspace ${ks}` },
  ...TABLES.map((t) => ({ action, resource: `cassandra table ${ks}.${t}` })),
];

/** A row with int64 values (driver Longs) as numbers, for exact comparison. */
function plain(row: cassandra.types.Row): Record<string, unknown> {
  return Object.fromEntries(row.keys().map((k) => [k, row[k] instanceof cassandra.types.Long ? row[k].toNumber() : row[k]]));
}

const order = (order_id: number, customer_id: number, creation_date: string, extra: Partial<Order> = {}): Order => ({
  order_id,
  customer_id,
  item: `item-${order_id}`,
  quantity: 2,
  price: 19.99,
  shipping_address: `${order_id} Main St`,
  order_status: "created",
  creation_date,
  ...extra,
});

const payment = (payment_id: number, order_id: number): Payment => ({
  payment_id,
  order_id,
  payment_method: "credit_card",
  card_last_four: "4242",
  payment_status: "completed",
  payment_datetime: "2026-11-20T10:05:00.000Z",
});

const noPayment = { payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null };

describe.skipIf(!available)("cassandra store (real Cassandra)", () => {
  let raw: cassandra.Client;
  let store: Store;
  const keyspaces: string[] = [];
  const stores: Store[] = [];

  /** A store on a fresh, migrated keyspace `${RUN}_${suffix}` (dropped in afterAll). */
  async function freshStore(suffix: string, overrides: Partial<CassandraConfig> = {}): Promise<Store> {
    const ks = `${RUN}_${suffix}`;
    keyspaces.push(ks);
    const s = await createCassandraStore(configFor(ks, overrides));
    stores.push(s);
    await s.migrate();
    return s;
  }

  const cql = (query: string, params: unknown[] = []) => raw.execute(query, params, { prepare: true });

  beforeAll(async () => {
    raw = new cassandra.Client({ contactPoints: [SERVICES.cassandra.host], localDataCenter: "datacenter1", protocolOptions: { port: SERVICES.cassandra.port } });
    await raw.connect();
    keyspaces.push(RUN);
    store = await createCassandraStore(configFor(RUN));
    stores.push(store);
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const ks of keyspaces) await raw.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
    await raw.shutdown();
  });

  test("migrate applies the schema twice: created, then every object exists; then checkSchema passes", async () => {
    expect(store.kind).toBe("cassandra");
    await expect(store.checkSchema()).rejects.toThrow(new SchemaMissingError(`keyspace ${RUN} does not exist: ${HINT}`));
    expect(await store.migrate()).toEqual(migrateSteps(RUN, "created"));
    expect(await store.migrate()).toEqual(migrateSteps(RUN, "exists"));
    await store.checkSchema();
    const tables = await cql("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [RUN]);
    expect(tables.rows.map((r) => r.table_name).sort()).toEqual([...TABLES].sort());
    const columns = await cql("SELECT column_name, type, kind FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?", [RUN, "orders_payments_facts"]);
    expect(Object.fromEntries(columns.rows.map((r) => [r.column_name, `${r.type} ${r.kind}`]))).toEqual({
      order_id: "bigint partition_key",
      customer_id: "bigint regular",
      item: "text regular",
      quantity: "bigint regular",
      price: "double regular",
      shipping_address: "text regular",
      order_status: "text regular",
      creation_date: "text regular",
      payment_id: "bigint regular",
      payment_method: "text regular",
      card_last_four: "text regular",
      payment_status: "text regular",
      payment_datetime: "text regular",
    });
    const ks = await cql("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [RUN]);
    expect(ks.first().replication).toEqual({ class: "org.apache.cassandra.locator.SimpleStrategy", replication_factor: "1" });
  });

  test("checkSchema rejects on an empty keyspace, naming the missing table and what to do", async () => {
    const ks = `${RUN}_empty`;
    keyspaces.push(ks);
    await raw.execute(`CREATE KEYSPACE ${ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
    const empty = await createCassandraStore(configFor(ks));
    stores.push(empty);
    const error = await empty.checkSchema().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaMissingError);
    expect((error as SchemaMissingError).message).toBe(`keyspace ${ks} has no table orders_payments_facts: ${HINT}`);
    expect((error as SchemaMissingError).retryable).toBe(false);
  });

  test("upsertOrders then applyPayments: exact rows in the fact table and both query tables", async () => {
    const orders = [
      order(1001, 42, "2026-11-20T10:00:00.000Z"),
      order(1002, 42, "2026-11-21T09:00:00.000Z", { quantity: 1, price: 250.5 }),
      order(1003, 42, "2026-11-19T08:00:00.000Z"),
      order(1004, 43, "2026-11-21T12:00:00.000Z"),
    ];
    await store.upsertOrders(orders);
    expect(await store.applyPayments([payment(5001, 1001), payment(5004, 1004)])).toEqual(["applied", "applied"]);

    const fact = await cql(`SELECT * FROM ${RUN}.orders_payments_facts WHERE order_id = ?`, [cassandra.types.Long.fromNumber(1001)]);
    expect(fact.rows.map(plain)).toEqual([{ ...orders[0], payment_id: 5001, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-11-20T10:05:00.000Z" }]);
    const unpaid = await cql(`SELECT * FROM ${RUN}.orders_payments_facts WHERE order_id = ?`, [cassandra.types.Long.fromNumber(1002)]);
    expect(unpaid.rows.map(plain)).toEqual([{ ...orders[1], ...noPayment }]);

    const byCustomer = await cql(`SELECT order_id, creation_date, item, payment_id FROM ${RUN}.orders_by_customer WHERE customer_id = ?`, [cassandra.types.Long.fromNumber(42)]);
    expect(byCustomer.rows.map(plain)).toEqual([
      { order_id: 1002, creation_date: "2026-11-21T09:00:00.000Z", item: "item-1002", payment_id: null },
      // Written with the order only: a payment no longer rewrites it (SPEC §6); the listing reads the fact rows.
      { order_id: 1001, creation_date: "2026-11-20T10:00:00.000Z", item: "item-1001", payment_id: null },
      { order_id: 1003, creation_date: "2026-11-19T08:00:00.000Z", item: "item-1003", payment_id: null },
    ]);

    const byId = await cql(`SELECT * FROM ${RUN}.payments_by_id WHERE payment_id = ?`, [cassandra.types.Long.fromNumber(5001)]);
    expect(byId.rows.map(plain)).toEqual([{ payment_id: 5001, order_id: 1001, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-11-20T10:05:00.000Z" }]);

    expect(await store.getFact(1001)).toEqual({ ...orders[0]!, ...payment(5001, 1001) });
    expect(await store.getFact(999_999)).toBeNull();
    expect((await store.ordersByCustomer(42, 10)).map((f) => f.order_id)).toEqual([1002, 1001, 1003]);
    expect(await store.ordersByCustomer(42, 2)).toEqual([{ ...orders[1]!, ...noPayment }, { ...orders[0]!, ...payment(5001, 1001) }]);
  });

  test("upsertOrders after the payment keeps the payment columns", async () => {
    await store.upsertOrders([order(2001, 50, "2026-11-20T10:00:00.000Z")]);
    expect(await store.applyPayments([payment(6001, 2001)])).toEqual(["applied"]);
    const resent = order(2001, 50, "2026-11-20T10:00:00.000Z", { order_status: "shipped" });
    await store.upsertOrders([resent]);
    await store.upsertOrders([resent]); // idempotent
    const row = await cql(`SELECT * FROM ${RUN}.orders_payments_facts WHERE order_id = ?`, [cassandra.types.Long.fromNumber(2001)]);
    expect(row.rows.map(plain)).toEqual([{ ...resent, ...payment(6001, 2001) }]);
    expect(await store.getFact(2001)).toEqual({ ...resent, ...payment(6001, 2001) });
  });

  test("one call with many records (written in batches): repeats of a key land in call order, an oversize order is stored too", async () => {
    const many = Array.from({ length: 230 }, (_, i) => order(8000 + i, 900 + (i % 7), `2026-11-20T10:${String(i % 60).padStart(2, "0")}:00.000Z`));
    const big = order(8500, 907, "2026-11-20T11:00:00.000Z", { shipping_address: "x".repeat(60 * 1024) }); // above the 50 KiB batch limit
    // the later value is the smaller one: writes sharing a timestamp would resolve to the larger
    const first = order(8600, 908, "2026-11-20T12:00:00.000Z", { order_status: "shipped" });
    const second = { ...first, order_status: "created" };
    await store.upsertOrders([first, ...many, big, second]);
    expect((await store.getFact(8600))!.order_status).toBe("created");
    expect((await store.getFact(8500))!.shipping_address.length).toBe(60 * 1024);
    const ids = [...many, big].map((o) => cassandra.types.Long.fromNumber(o.order_id));
    expect((await cql(`SELECT order_id FROM ${RUN}.orders_payments_facts WHERE order_id IN ?`, [ids])).rowLength).toBe(231);

    // 234 payments, two for order 8600 (a failed one, then its retry, which wins), one for a missing order
    const failed = { ...payment(9601, 8600), payment_status: "failed" };
    const payments = [failed, ...many.map((o, i) => payment(9000 + i, o.order_id)), payment(9500, 8500), payment(9600, 8600), payment(9999, 8999)];
    const applied = await store.applyPayments(payments);
    expect(applied).toEqual([...payments.slice(0, -1).map(() => "applied" as const), "unmatched"]);
    expect(await store.getFact(8600)).toEqual({ ...second, ...payment(9600, 8600) });
    expect(await store.getFact(8229)).toEqual({ ...many[229]!, ...payment(9229, 8229) });
    const byCustomer = await cql(`SELECT order_id, payment_id FROM ${RUN}.orders_by_customer WHERE customer_id = ?`, [cassandra.types.Long.fromNumber(908)]);
    expect(byCustomer.rows.map(plain)).toEqual([{ order_id: 8600, payment_id: null }]);
    const byId = await cql(`SELECT payment_id FROM ${RUN}.payments_by_id WHERE payment_id IN ?`, [[9600, 9601, 9500, 9999].map((n) => cassandra.types.Long.fromNumber(n))]);
    expect(byId.rows.map((r) => r.payment_id.toNumber()).sort()).toEqual([9500, 9600, 9601]);
  });

  test("applyPayments for a missing order returns false and creates no row", async () => {
    await store.upsertOrders([order(3001, 60, "2026-11-20T10:00:00.000Z")]);
    expect(await store.applyPayments([payment(7001, 3999), payment(7002, 3001), payment(7003, 3998)])).toEqual(["unmatched", "applied", "unmatched"]);
    const facts = await cql(`SELECT order_id FROM ${RUN}.orders_payments_facts WHERE order_id IN ?`, [[3998, 3999].map((n) => cassandra.types.Long.fromNumber(n))]);
    expect(facts.rowLength).toBe(0);
    const payments = await cql(`SELECT payment_id FROM ${RUN}.payments_by_id WHERE payment_id IN ?`, [[7001, 7002, 7003].map((n) => cassandra.types.Long.fromNumber(n))]);
    expect(payments.rows.map((r) => r.payment_id.toNumber())).toEqual([7002]);
    expect(await store.getFact(3999)).toBeNull();
  });

  test("a payment finds an order another process wrote (by reading) and one this store wrote (from memory, no read)", async () => {
    const other = await createCassandraStore(configFor(RUN)); // another process: its own client, nothing in common
    stores.push(other);
    await other.upsertOrders([order(3101, 61, "2026-11-20T10:00:00.000Z")]);
    await store.upsertOrders([order(3102, 61, "2026-11-21T10:00:00.000Z")]);
    // Failed payments, so that the later ones below are retries that replace them, not duplicate charges.
    const failed = (id: number, orderId: number): Payment => ({ ...payment(id, orderId), payment_status: "failed" });
    expect(await store.applyPayments([failed(7101, 3101), failed(7102, 3102)])).toEqual(["applied", "applied"]);
    const byCustomer = await cql(`SELECT order_id, creation_date, payment_id FROM ${RUN}.orders_by_customer WHERE customer_id = ?`, [cassandra.types.Long.fromNumber(61)]);
    expect(byCustomer.rows.map(plain)).toEqual([
      { order_id: 3102, creation_date: "2026-11-21T10:00:00.000Z", payment_id: null },
      { order_id: 3101, creation_date: "2026-11-20T10:00:00.000Z", payment_id: null },
    ]);
    expect(await other.getFact(3102)).toEqual({ ...order(3102, 61, "2026-11-21T10:00:00.000Z"), ...failed(7102, 3102) });

    // With the fact row deleted behind both stores' backs, only the other one (which reads) sees it gone: this store
    // matches the payment from what it wrote, without asking Cassandra.
    await cql(`DELETE FROM ${RUN}.orders_payments_facts WHERE order_id = ?`, [cassandra.types.Long.fromNumber(3101)]);
    await cql(`DELETE FROM ${RUN}.orders_payments_facts WHERE order_id = ?`, [cassandra.types.Long.fromNumber(3102)]);
    expect(await other.applyPayments([payment(7103, 3102)])).toEqual(["unmatched"]);
    expect(await store.applyPayments([payment(7104, 3101), payment(7105, 3102)])).toEqual(["unmatched", "applied"]);
  });

  test("an order is remembered only once Cassandra confirmed its write", async () => {
    const failing = await createCassandraStore(configFor(RUN, { writeConsistency: "TWO" })); // unavailable on one node
    stores.push(failing);
    await expect(failing.upsertOrders([order(3201, 62, "2026-11-20T10:00:00.000Z")])).rejects.toBeInstanceOf(StoreError);
    expect(await failing.applyPayments([payment(7201, 3201)])).toEqual(["unmatched"]);
    await store.upsertOrders([order(3201, 62, "2026-11-20T10:00:00.000Z")]);
    expect(await failing.applyPayments([payment(7202, 3201)]).catch((e: unknown) => e)).toBeInstanceOf(StoreError); // found by its read; its write fails
  });

  test("an order re-sent with another creation_date is listed once, at its new place", async () => {
    await store.upsertOrders([order(4001, 70, "2026-11-01T00:00:00.000Z"), order(4002, 70, "2026-11-02T00:00:00.000Z")]);
    await store.upsertOrders([order(4001, 70, "2026-11-03T00:00:00.000Z")]);
    expect((await store.ordersByCustomer(70, 10)).map((f) => [f.order_id, f.creation_date])).toEqual([
      [4001, "2026-11-03T00:00:00.000Z"],
      [4002, "2026-11-02T00:00:00.000Z"],
    ]);
    expect((await store.ordersByCustomer(70, 1)).map((f) => f.order_id)).toEqual([4001]);
  });

  test("the configured consistency levels reach the server: TWO on a one-node cluster is unavailable", async () => {
    const twoWrites = await createCassandraStore(configFor(RUN, { writeConsistency: "TWO" }));
    const twoReads = await createCassandraStore(configFor(RUN, { readConsistency: "TWO" }));
    stores.push(twoWrites, twoReads);
    const unavailable = "(127.0.0.1:9042: Not enough replicas available for query at consistency TWO (2 required but only 1 alive))";

    const writeError = await twoWrites.upsertOrders([order(4101, 71, "2026-11-20T10:00:00.000Z")]).then(() => null, (e: unknown) => e);
    expect(writeError).toBeInstanceOf(StoreError);
    expect((writeError as StoreError).message).toBe(`cassandra: upsert of order 4101 failed: no host could answer ${unavailable}`);
    expect((writeError as StoreError).retryable).toBe(true);
    expect(await twoWrites.getFact(4101)).toBeNull(); // reads stay at LOCAL_QUORUM

    await twoReads.upsertOrders([order(4101, 71, "2026-11-20T10:00:00.000Z")]); // writes stay at LOCAL_QUORUM
    const readError = await twoReads.getFact(4101).then(() => null, (e: unknown) => e);
    expect((readError as StoreError).message).toBe(`cassandra: read of order 4101 failed: no host could answer ${unavailable}`);
    expect((readError as StoreError).retryable).toBe(true);
    expect((await store.getFact(4101))!.order_id).toBe(4101);
  });

  test("ping answers while writes fill the request limit (readiness is not queued behind the pipeline)", async () => {
    const one = await freshStore("ping", { concurrency: 1 });
    // 3000 orders: 600 batches one at a time, seconds of queued requests
    const many = Array.from({ length: 3000 }, (_, i) => order(40_000 + i, 3000 + (i % 500), "2026-11-22T10:00:00.000Z"));
    const done: string[] = [];
    const writes = one.upsertOrders(many).then(() => done.push("writes"));
    await one.ping().then(() => done.push("ping"));
    await writes;
    expect(done).toEqual(["ping", "writes"]);
    expect((await one.getFact(42_999))!.order_id).toBe(42_999);
  });

  test("connecting fails with a StoreError: retryable when nothing listens, permanent for an unknown data center", async () => {
    const closedPort = await freePort();
    const refused = await createCassandraStore(configFor(RUN, { port: closedPort })).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(StoreError);
    expect((refused as StoreError).message).toBe(
      `cassandra: connecting to 127.0.0.1:${closedPort} (local dc datacenter1) failed: no host could answer (127.0.0.1:${closedPort}: connect ECONNREFUSED 127.0.0.1:${closedPort})`,
    );
    expect((refused as StoreError).retryable).toBe(true);

    const wrongDc = await createCassandraStore(configFor(RUN, { localDc: "dc-nowhere" })).then(() => null, (e: unknown) => e);
    expect((wrongDc as StoreError).message).toBe(
      `cassandra: connecting to 127.0.0.1:${SERVICES.cassandra.port} (local dc dc-nowhere) failed: no host could answer (127.0.0.1:${SERVICES.cassandra.port}: localDataCenter was configured as 'dc-nowhere', but only found hosts in data centers: [datacenter1])`,
    );
    expect((wrongDc as StoreError).retryable).toBe(false);

    const badLevel = await createCassandraStore(configFor(RUN, { readConsistency: "MOST" })).then(() => null, (e: unknown) => e);
    expect((badLevel as StoreError).message).toBe(
      "--cassandra-read-consistency=MOST is not a consistency level: use one of ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE",
    );
  });

  describe("dead letters", () => {
    let dl: Store;
    // 25 records over three days; pairs share a first_seen (i and i+3), so the id tie-break is exercised
    const inputs: DeadLetterInput[] = Array.from({ length: 25 }, (_, i) => {
      const day = 20 + (i % 3);
      const reason = i % 5 === 0 ? "invalid" : "unmatched_order";
      return {
        id: `dl-${String(i).padStart(2, "0")}`,
        reason,
        details: reason === "invalid" ? { errors: [`quantity: must be >= 1 (record ${i})`] } : { order_id: 9000 + i },
        original: JSON.stringify({ payment_id: 8000 + i, order_id: 9000 + i }),
        topic: "payments",
        subscription: "payment",
        message_id: `msg-${i}`,
        type: "payment",
        business_key: String(8000 + i),
        seen_at: `2026-11-${day}T10:${String(Math.floor(i / 6)).padStart(2, "0")}:00.000Z`,
      };
    });
    const RETRY_AT = "2026-11-22T10:00:30.000Z";
    /** Listing order: first_seen DESC, id DESC. */
    const expectedOrder = [...inputs].sort((a, b) => (a.seen_at === b.seen_at ? b.id.localeCompare(a.id) : b.seen_at.localeCompare(a.seen_at)));

    beforeAll(async () => {
      dl = await freshStore("dl");
    });

    test("put creates pending records: get returns them exactly", async () => {
      const before = new Date().toISOString();
      await dl.putDeadLetters(inputs, RETRY_AT);
      const got = await dl.getDeadLetter("dl-01");
      const { seen_at, ...rest } = inputs[1]!;
      expect(got).toEqual({
        ...rest,
        attempts: 1,
        first_seen: seen_at,
        last_seen: seen_at,
        status: "pending",
        next_retry_at: RETRY_AT,
        updated_at: expect.any(String),
      } as DeadLetterRecord);
      expect(got!.updated_at >= before).toBe(true);
      expect((await dl.getDeadLetter("dl-00"))!.next_retry_at).toBeNull(); // invalid: never retried
      expect(await dl.getDeadLetter("dl-missing")).toBeNull();
      expect(await dl.deadLetterCounts()).toEqual({ pending: 25, reconciled: 0, replayed: 0, discarded: 0 });
    });

    test("list pages newest first with an opaque cursor; total counts every page", async () => {
      const ids: string[] = [];
      const totals: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await dl.listDeadLetters({ status: "pending", limit: 10, cursor });
        ids.push(...page.items.map((r) => r.id));
        totals.push(page.total);
        cursor = page.next ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(totals).toEqual([25, 25, 25]);
      expect(ids).toEqual(expectedOrder.map((r) => r.id));
      expect(new Set(expectedOrder.map((r) => r.seen_at)).size).toBe(13); // 12 tied pairs

      // one record per page: every cursor, including those between tied records
      const single: string[] = [];
      cursor = undefined;
      do {
        const page = await dl.listDeadLetters({ limit: 1, cursor });
        single.push(...page.items.map((r) => r.id));
        cursor = page.next ?? undefined;
      } while (cursor);
      expect(single).toEqual(expectedOrder.map((r) => r.id));

      const invalid = await dl.listDeadLetters({ reason: "invalid", limit: 2 });
      expect(invalid.total).toBe(5);
      expect(invalid.items.map((r) => r.id)).toEqual(expectedOrder.filter((r) => r.reason === "invalid").slice(0, 2).map((r) => r.id));
      const rest = await dl.listDeadLetters({ reason: "invalid", limit: 10, cursor: invalid.next! });
      expect(rest.items.map((r) => r.id)).toEqual(expectedOrder.filter((r) => r.reason === "invalid").slice(2).map((r) => r.id));
      expect(rest.next).toBeNull();
      expect(await dl.listDeadLetters({ status: "reconciled", limit: 10 })).toEqual({ items: [], total: 0, next: null });

      const bad = await dl.listDeadLetters({ limit: 10, cursor: "not-a-cursor" }).then(() => null, (e: unknown) => e);
      expect(bad).toBeInstanceOf(StoreError);
      expect((bad as StoreError).retryable).toBe(false);
    });

    test("putting an existing id again counts an attempt and refreshes reason, details and original", async () => {
      const again = { ...inputs[1]!, details: { order_id: 9001, note: "seen again" }, original: '{"again":true}', seen_at: "2026-11-22T11:00:00.000Z" };
      await dl.putDeadLetters([again, { ...again, seen_at: "2026-11-22T11:30:00.000Z" }], "2026-11-23T00:00:00.000Z");
      const got = await dl.getDeadLetter("dl-01");
      expect({ ...got!, updated_at: "-" }).toEqual({
        id: "dl-01",
        reason: "unmatched_order",
        details: { order_id: 9001, note: "seen again" },
        original: '{"again":true}',
        topic: "payments",
        subscription: "payment",
        message_id: "msg-1",
        type: "payment",
        business_key: "8001",
        attempts: 3,
        first_seen: inputs[1]!.seen_at,
        last_seen: "2026-11-22T11:30:00.000Z",
        status: "pending",
        next_retry_at: RETRY_AT,
        updated_at: "-",
      });
      expect((await dl.listDeadLetters({ limit: 1000 })).total).toBe(25);
    });

    test("update, due and counts", async () => {
      // dl-01 reconciled; dl-02 rescheduled later; dl-03 earlier than the rest; an unknown id is ignored
      await dl.updateDeadLetters([
        { id: "dl-01", status: "reconciled", next_retry_at: null },
        { id: "dl-02", next_retry_at: "2026-11-22T10:05:00.000Z", attempts: 4 },
        { id: "dl-03", next_retry_at: "2026-11-22T09:00:00.000Z" },
        { id: "dl-04", status: "discarded" },
        { id: "dl-06", status: "replayed", last_seen: "2026-11-22T12:00:00.000Z" },
        { id: "nope", status: "discarded" },
      ]);
      expect(await dl.getDeadLetter("nope")).toBeNull();
      expect(await dl.deadLetterCounts()).toEqual({ pending: 22, reconciled: 1, replayed: 1, discarded: 1 });
      const dl02 = await dl.getDeadLetter("dl-02");
      expect([dl02!.attempts, dl02!.next_retry_at, dl02!.status]).toEqual([4, "2026-11-22T10:05:00.000Z", "pending"]);
      expect((await dl.getDeadLetter("dl-06"))!.last_seen).toBe("2026-11-22T12:00:00.000Z");

      // unmatched_order and pending: 20 unmatched - dl-01, dl-04, dl-06 = 17; dl-02 is not yet due at 10:01
      const unmatchedPending = inputs.filter((r) => r.reason === "unmatched_order" && !["dl-01", "dl-04", "dl-06"].includes(r.id));
      expect(unmatchedPending.length).toBe(17);
      // entries two racing writers could leave behind: one for a record no longer pending, one for no record
      const stale = `INSERT INTO ${RUN}_dl.dead_letters_due (reason, next_retry_at, id) VALUES (?, ?, ?)`;
      await cql(stale, ["unmatched_order", "2026-11-22T08:30:00.000Z", "dl-01"]);
      await cql(stale, ["unmatched_order", "2026-11-22T08:31:00.000Z", "ghost"]);
      const due = await dl.dueDeadLetters("unmatched_order", "2026-11-22T10:01:00.000Z", 100);
      const dueNow = unmatchedPending.filter((r) => !["dl-02", "dl-03"].includes(r.id)).map((r) => r.id).sort();
      expect(due.map((r) => r.id)).toEqual(["dl-03", ...dueNow]);
      expect((await dl.dueDeadLetters("unmatched_order", "2026-11-22T10:01:00.000Z", 3)).map((r) => r.id)).toEqual(["dl-03", ...dueNow.slice(0, 2)]);
      expect((await dl.dueDeadLetters("unmatched_order", "2026-11-22T11:00:00.000Z", 100)).map((r) => r.id)).toEqual(["dl-03", ...dueNow, "dl-02"]);
      expect(await dl.dueDeadLetters("unmatched_order", "2026-11-22T08:00:00.000Z", 100)).toEqual([]);
      expect(await dl.dueDeadLetters("invalid", "2026-11-23T00:00:00.000Z", 100)).toEqual([]);

      // the due index holds exactly the pending records with a retry time (the stale entries were deleted)
      const dueRows = await cql(`SELECT id FROM ${RUN}_dl.dead_letters_due WHERE reason = ?`, ["unmatched_order"]);
      expect(dueRows.rows.map((r) => r.id).sort()).toEqual(unmatchedPending.map((r) => r.id).sort());

      const listed = await dl.listDeadLetters({ status: "pending", reason: "unmatched_order", limit: 1000 });
      expect([listed.total, listed.items.length, listed.next]).toEqual([17, 17, null]);
    });

    test("a record whose original is a whole oversize message (300 KiB) is stored and listed", async () => {
      // more than Cassandra's 50 KiB batch_size_fail_threshold: the record row must not travel in a batch
      const original = JSON.stringify({ order_id: 1, item: "x".repeat(300 * 1024) });
      await dl.putDeadLetters([{ ...inputs[0]!, id: "dl-big", original, seen_at: "2026-11-23T00:00:00.000Z" }], null);
      expect((await dl.getDeadLetter("dl-big"))!.original).toBe(original);
      const newest = await dl.listDeadLetters({ limit: 1 });
      expect([newest.items[0]!.id, newest.items[0]!.original.length, newest.total]).toEqual(["dl-big", original.length, 26]);
    });

    test("a record written without its index batch (server gone in between) is repaired when its due entry turns up stale", async () => {
      await dl.putDeadLetters([{ ...inputs[1]!, id: "dl-torn", seen_at: "2026-11-24T00:00:00.000Z" }], "2026-11-24T00:00:05.000Z");
      const before = await dl.deadLetterCounts();
      // what a reconcile pass leaves when the server dies after the record write and before the index batch
      await cql(`UPDATE ${RUN}_dl.dead_letters SET status = 'reconciled', next_retry_at = null WHERE id = ?`, ["dl-torn"]);
      expect(await dl.deadLetterCounts()).toEqual(before); // the index still says pending

      expect((await dl.dueDeadLetters("unmatched_order", "2026-11-24T00:01:00.000Z", 100)).map((r) => r.id)).not.toContain("dl-torn");
      const byDay = await cql(`SELECT status, next_retry_at FROM ${RUN}_dl.dead_letters_by_day WHERE day = ? AND first_seen = ? AND id = ?`, ["2026-11-24", "2026-11-24T00:00:00.000Z", "dl-torn"]);
      expect(byDay.rows.map(plain)).toEqual([{ status: "reconciled", next_retry_at: null }]);
      expect((await cql(`SELECT id FROM ${RUN}_dl.dead_letters_due WHERE reason = ?`, ["unmatched_order"])).rows.map((r) => r.id)).not.toContain("dl-torn");
      expect(await dl.deadLetterCounts()).toEqual({ ...before, pending: before.pending - 1, reconciled: before.reconciled + 1 });
      expect((await dl.listDeadLetters({ status: "reconciled", limit: 100 })).items.map((r) => r.id)).toContain("dl-torn");
    });

    test("a rescheduled record whose index batch was lost gets a due entry for its new time (it is retried, not forgotten)", async () => {
      await dl.putDeadLetters([{ ...inputs[1]!, id: "dl-resched", seen_at: "2026-11-25T00:00:00.000Z" }], "2026-11-25T00:00:05.000Z");
      // what a reconcile pass leaves when the process dies after the record write: attempts 2, retry later, old index
      await cql(`UPDATE ${RUN}_dl.dead_letters SET attempts = 2, next_retry_at = '2026-11-25T00:10:00.000Z' WHERE id = ?`, ["dl-resched"]);
      expect((await dl.dueDeadLetters("unmatched_order", "2026-11-25T00:01:00.000Z", 100)).map((r) => r.id)).not.toContain("dl-resched");
      const due = await cql(`SELECT next_retry_at FROM ${RUN}_dl.dead_letters_due WHERE reason = 'unmatched_order' AND id = ? ALLOW FILTERING`, ["dl-resched"]);
      expect(due.rows.map(plain)).toEqual([{ next_retry_at: "2026-11-25T00:10:00.000Z" }]);
      const byDay = await cql(`SELECT status, next_retry_at FROM ${RUN}_dl.dead_letters_by_day WHERE day = ? AND first_seen = ? AND id = ?`, ["2026-11-25", "2026-11-25T00:00:00.000Z", "dl-resched"]);
      expect(byDay.rows.map(plain)).toEqual([{ status: "pending", next_retry_at: "2026-11-25T00:10:00.000Z" }]);
      expect((await dl.dueDeadLetters("unmatched_order", "2026-11-25T00:10:00.000Z", 100)).map((r) => [r.id, r.attempts])).toContainEqual(["dl-resched", 2]);
    });
  });

  test("due scans start above the tombstones of settled entries; entries written through the store are found even below that", async () => {
    const s = await freshStore("due");
    const unmatched = (i: number, seen_at: string): DeadLetterInput => ({
      id: `due-${i}`, reason: "unmatched_order", details: null, original: "{}", topic: "payments", subscription: "payment",
      message_id: `m-${i}`, type: "payment", business_key: String(i), seen_at,
    });
    const SETTLED_AT = "2026-11-26T00:00:00.000Z";
    const LIVE_AT = "2026-11-26T01:00:00.000Z";
    const NOW = "2026-11-26T02:00:00.000Z";
    // 1200 entries at 00:00 settled (each a tombstone in the reason's partition), 10 still pending at 01:00
    await s.putDeadLetters(Array.from({ length: 1200 }, (_, i) => unmatched(i, "2026-11-25T23:00:00.000Z")), SETTLED_AT);
    await s.putDeadLetters(Array.from({ length: 10 }, (_, i) => unmatched(5000 + i, "2026-11-25T23:30:00.000Z")), LIVE_AT);
    await s.updateDeadLetters(Array.from({ length: 1200 }, (_, i) => ({ id: `due-${i}`, status: "reconciled" as const, next_retry_at: null })));
    const live = Array.from({ length: 10 }, (_, i) => `due-${5000 + i}`);
    // the first scan reads from the partition's start (tombstones included): what is due is exact
    expect((await s.dueDeadLetters("unmatched_order", NOW, 100)).map((r) => r.id)).toEqual(live);

    // Another process whose clock is an hour behind (beyond the 10 min margin) writes an entry at 00:30: below this
    // store's floor (00:50), so this store no longer scans there; a fresh one (a restart) starts from the bottom.
    const other = await createCassandraStore(configFor(`${RUN}_due`));
    stores.push(other);
    await other.putDeadLetters([unmatched(9001, "2026-11-25T23:40:00.000Z")], "2026-11-26T00:30:00.000Z");
    expect((await s.dueDeadLetters("unmatched_order", NOW, 100)).map((r) => r.id)).toEqual(live);
    const restarted = await createCassandraStore(configFor(`${RUN}_due`));
    stores.push(restarted);
    expect((await restarted.dueDeadLetters("unmatched_order", NOW, 100)).map((r) => r.id)).toEqual(["due-9001", ...live]);

    // An entry written through the store itself lowers its floor, however old its retry time.
    await s.updateDeadLetters([{ id: "due-5003", next_retry_at: "2026-11-25T12:00:00.000Z" }]);
    expect((await s.dueDeadLetters("unmatched_order", NOW, 3)).map((r) => r.id)).toEqual(["due-5003", "due-9001", "due-5000"]);
    const due = await cql(`SELECT id FROM ${RUN}_due.dead_letters_due WHERE reason = ?`, ["unmatched_order"]);
    expect(due.rows.map((r) => r.id as string).sort()).toEqual(["due-9001", ...live].sort());
    const table = await cql("SELECT gc_grace_seconds FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?", [`${RUN}_due`, "dead_letters_due"]);
    expect(table.rows.map((r) => r.gc_grace_seconds)).toEqual([3600]);
  }, 120_000);

  test(
    `while the server is away for ${OUTAGE_MS / 1000} s calls reject retryable without hanging; then it works again`,
    async () => {
      const proxy = await startProxy(SERVICES.cassandra.port);
      const s = await createCassandraStore(configFor(RUN, { port: proxy.port, requestTimeoutMs: 2000 }));
      stores.push(s);
      await s.upsertOrders([order(5001, 80, "2026-11-20T10:00:00.000Z")]);

      proxy.down();
      const downAt = Date.now();
      let calls = 0;
      let slowest = 0;
      while (Date.now() - downAt < OUTAGE_MS) {
        const started = Date.now();
        const error = await (calls % 2 ? s.getFact(5001) : s.upsertOrders([order(5002, 80, "2026-11-20T11:00:00.000Z")])).then(() => null, (e: unknown) => e);
        slowest = Math.max(slowest, Date.now() - started);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).retryable).toBe(true);
        calls++;
      }
      expect(slowest).toBeLessThan(10_000);

      await proxy.up();
      const upAt = Date.now();
      await waitFor("the store to answer after the server returned", () => s.getFact(5001).then((f) => f?.order_id === 5001, () => false), { timeoutMs: 15_000, intervalMs: 100 });
      const recoveredMs = Date.now() - upAt;
      await s.upsertOrders([order(5002, 80, "2026-11-20T11:00:00.000Z")]);
      expect((await s.getFact(5002))!.order_id).toBe(5002);
      console.info(`outage ${OUTAGE_MS} ms: ${calls} calls rejected retryable, slowest ${slowest} ms; answered again ${recoveredMs} ms after the server returned`);
      proxy.down();
    },
    OUTAGE_MS + 40_000,
  );

  test("a server that stops answering (connections kept open) makes calls reject retryable after about the request timeout", async () => {
    const proxy = await startProxy(SERVICES.cassandra.port);
    const s = await createCassandraStore(configFor(RUN, { port: proxy.port, requestTimeoutMs: 2000 }));
    stores.push(s);
    await s.upsertOrders([order(5101, 81, "2026-11-20T10:00:00.000Z")]);

    proxy.freeze();
    const durations: number[] = [];
    for (const call of [() => s.getFact(5101), () => s.upsertOrders([order(5102, 81, "2026-11-20T11:00:00.000Z")]), () => s.ping()]) {
      const started = Date.now();
      const error = await call().then(() => null, (e: unknown) => e);
      durations.push(Date.now() - started);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).retryable).toBe(true);
    }
    for (const ms of durations) {
      expect(ms).toBeGreaterThanOrEqual(1900);
      expect(ms).toBeLessThan(4500);
    }

    proxy.thaw();
    await waitFor("the store to answer after the server answers again", () => s.getFact(5101).then((f) => f?.order_id === 5101, () => false), { timeoutMs: 15_000, intervalMs: 100 });
    await s.upsertOrders([order(5102, 81, "2026-11-20T11:00:00.000Z")]);
    expect((await s.getFact(5102))!.order_id).toBe(5102);
    console.info(`unanswering server, request timeout 2000 ms: calls rejected after ${durations.join(", ")} ms`);
    proxy.down();
  }, 40_000);
});

// The lead's store contract suite, run against Cassandra when it exists.
if (available && existsSync(contractPath)) {
  const { storeContract } = await import(contractPath);
  const made: { store: Store; ks: string }[] = [];
  storeContract(
    "cassandra",
    async () => {
      const ks = `${RUN}_c${made.length}`;
      const s = await createCassandraStore(configFor(ks));
      made.push({ store: s, ks });
      await s.migrate();
      return s;
    },
    async () => {
      const raw = new cassandra.Client({ contactPoints: [SERVICES.cassandra.host], localDataCenter: "datacenter1", protocolOptions: { port: SERVICES.cassandra.port } });
      for (const { store: s, ks } of made.splice(0)) {
        await s.close();
        await raw.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
      }
      await raw.shutdown();
    },
  );
}

/** A port nothing listens on (bound once, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, SERVICES.cassandra.host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A TCP proxy in front of Cassandra that can vanish (listener closed, connections reset) and return on the
 * same port, or freeze (connections kept open, nothing forwarded) and thaw.
 */
async function startProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  let frozen = false;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect({ host: SERVICES.cassandra.host, port: targetPort });
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("error", () => {});
          s.on("close", () => {
            sockets.delete(s);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
        if (frozen) for (const s of [client, upstream]) s.pause();
      });
      server.listen(port, SERVICES.cassandra.host, () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    down() {
      server.close();
      for (const s of sockets) s.destroy();
    },
    up: listen,
    freeze() {
      frozen = true;
      for (const s of sockets) s.pause();
    },
    thaw() {
      frozen = false;
      for (const s of sockets) s.resume();
    },
  };
}
