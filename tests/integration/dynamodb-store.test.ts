// The DynamoDB store against moto's DynamoDB API: the store contract, the tables and items as the SDK reads them,
// migrate's steps, the schema check, the 400 KB item limit, and errors when the endpoint is away.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { DeleteTableCommand, DescribeTableCommand, GetItemCommand, ScanCommand, UpdateTableCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import type { DynamoConfig } from "../../src/config/types.ts";
import type { DeadLetterInput, Order, Payment } from "../../src/domain/model.ts";
import { createDynamoStore, dynamoClient, tableNames } from "../../src/store/dynamodb/index.ts";
import { SchemaMissingError, StoreError, type SchemaStep, type Store } from "../../src/store/types.ts";
import { freePort } from "../helpers/ecom.ts";
import { moto, serviceAvailable } from "../helpers/services.ts";
import { storeContract } from "../contract/store.contract.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const available = await serviceAvailable("moto");
const HINT = "run `ecom migrate` or start with --auto-migrate";

const prefix = () => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}_`;
function dynamoConfig(overrides: Partial<DynamoConfig> = {}): DynamoConfig {
  return {
    region: "us-east-1",
    endpoint: moto.endpoint,
    tablePrefix: prefix(),
    billingMode: "on-demand",
    readCapacity: 5,
    writeCapacity: 5,
    requestTimeoutMs: 10_000,
    concurrency: 16,
    ...overrides,
  };
}

const stores: { store: Store; config: DynamoConfig }[] = [];
async function migrated(overrides: Partial<DynamoConfig> = {}): Promise<{ store: Store; config: DynamoConfig }> {
  const config = dynamoConfig(overrides);
  const store = createDynamoStore(config);
  await store.migrate();
  stores.push({ store, config });
  return { store, config };
}

/** Every item of a table (Scan: only the test reads a whole table), numbers as numbers, NULLs as null. */
async function scanAll(config: DynamoConfig, table: string): Promise<Record<string, unknown>[]> {
  const client = dynamoClient(config);
  const items: Record<string, unknown>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  try {
    do {
      const out = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }));
      for (const item of out.Items ?? []) items.push(plain(item));
      start = out.LastEvaluatedKey;
    } while (start);
  } finally {
    client.destroy();
  }
  return items;
}

function plain(item: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, v.N !== undefined ? Number(v.N) : v.S !== undefined ? v.S : v.NULL ? null : v]));
}

const order = (order_id: number, customer_id = 5, creation_date = "2026-11-20T10:00:00.000Z"): Order => ({
  order_id,
  customer_id,
  item: `item-${order_id}`,
  quantity: 2,
  price: 19.99,
  shipping_address: `${order_id} Main St`,
  order_status: "created",
  creation_date,
});
const payment = (payment_id: number, order_id: number): Payment => ({
  payment_id,
  order_id,
  payment_method: "credit_card",
  card_last_four: "4242",
  payment_status: "completed",
  payment_datetime: "2026-11-20T10:05:00.000Z",
});
const dead = (id: string, original: string, over: Partial<DeadLetterInput> = {}): DeadLetterInput => ({
  id,
  reason: "invalid",
  details: ["body: too large"],
  original,
  topic: "orders",
  subscription: "order",
  message_id: `m-${id}`,
  type: null,
  business_key: null,
  seen_at: "2026-11-20T10:00:00.000Z",
  ...over,
});

describe.skipIf(!available)("dynamodb store on moto", () => {
  afterAll(async () => {
    for (const { store } of stores.splice(0)) await store.close();
  });

  test("migrate creates the three tables with their indexes, then finds them; checkSchema names what is missing", async () => {
    const config = dynamoConfig();
    const store = createDynamoStore(config);
    stores.push({ store, config });
    const names = tableNames(config.tablePrefix);
    await expect(store.checkSchema()).rejects.toThrow(new SchemaMissingError(`dynamodb table ${names.facts} does not exist: ${HINT}`));
    const lines = (action: SchemaStep["action"]) => Object.values(names).map((t) => ({ action, resource: `dynamodb table ${t}` }));
    expect(await store.migrate()).toEqual(lines("created"));
    expect(await store.migrate()).toEqual(lines("exists"));
    await store.checkSchema();

    const client = dynamoClient(config);
    try {
      const facts = (await client.send(new DescribeTableCommand({ TableName: names.facts }))).Table!;
      expect(facts.KeySchema).toEqual([{ AttributeName: "order_id", KeyType: "HASH" }]);
      expect(facts.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST");
      expect(facts.GlobalSecondaryIndexes!.map((i) => [i.IndexName, i.KeySchema, i.Projection?.ProjectionType])).toEqual([
        ["by_customer", [{ AttributeName: "customer_id", KeyType: "HASH" }, { AttributeName: "creation_date", KeyType: "RANGE" }], "KEYS_ONLY"],
      ]);
      const dl = (await client.send(new DescribeTableCommand({ TableName: names.deadLetters }))).Table!;
      expect(dl.KeySchema).toEqual([{ AttributeName: "id", KeyType: "HASH" }]);
      expect(dl.GlobalSecondaryIndexes!.map((i) => i.IndexName).sort()).toEqual(["by_reason", "by_status", "due"]);
      expect(dl.TableStatus).toBe("ACTIVE");

      // An index dropped is added again, and said so; a table dropped is created again.
      await client.send(new UpdateTableCommand({ TableName: names.deadLetters, GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: "due" } }] }));
      await expect(store.checkSchema()).rejects.toThrow(new SchemaMissingError(`dynamodb table ${names.deadLetters} has no index due: ${HINT}`));
      await client.send(new DeleteTableCommand({ TableName: names.payments }));
      expect(await store.migrate()).toEqual([
        { action: "exists", resource: `dynamodb table ${names.facts}` },
        { action: "created", resource: `dynamodb table ${names.payments}` },
        { action: "updated", resource: `dynamodb table ${names.deadLetters}`, note: "index due added" },
      ]);
      await store.checkSchema();
    } finally {
      client.destroy();
    }
  });

  test("provisioned billing: tables and indexes get the read and write units asked for", async () => {
    const { config } = await migrated({ billingMode: "provisioned", readCapacity: 7, writeCapacity: 3 });
    const client = dynamoClient(config);
    try {
      const t = (await client.send(new DescribeTableCommand({ TableName: tableNames(config.tablePrefix).deadLetters }))).Table!;
      expect([t.ProvisionedThroughput?.ReadCapacityUnits, t.ProvisionedThroughput?.WriteCapacityUnits]).toEqual([7, 3]);
      for (const i of t.GlobalSecondaryIndexes!) expect([i.IndexName, i.ProvisionedThroughput?.ReadCapacityUnits, i.ProvisionedThroughput?.WriteCapacityUnits]).toEqual([i.IndexName, 7, 3]);
    } finally {
      client.destroy();
    }
  });

  test("items as the SDK reads them: facts with their payment, payments_by_id, a dead letter in the due index only while due", async () => {
    const { store, config } = await migrated();
    const names = tableNames(config.tablePrefix);
    await store.upsertOrders([order(1), order(2, 6), order(1)]);
    expect(await store.applyPayments([payment(10, 1), payment(11, 99)])).toEqual(["applied", "unmatched"]);
    // a second completed payment: told apart from a missing order by the item the failed condition hands back
    expect(await store.applyPayments([payment(12, 1)])).toMatchObject([{ outcome: "duplicate_charge", kept_payment_id: 10 }]);
    // written again (a redelivery): the order columns change, its payment stays
    await store.upsertOrders([{ ...order(1), order_status: "shipped" }]);
    const facts = (await scanAll(config, names.facts)).sort((a, b) => Number(a.order_id) - Number(b.order_id));
    expect(facts).toEqual([
      { ...order(1), order_status: "shipped", payment_id: 10, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-11-20T10:05:00.000Z" },
      { ...order(2, 6) },
    ]);
    const byId = (await scanAll(config, names.payments)).sort((a, b) => Number(a.payment_id) - Number(b.payment_id));
    expect(byId).toEqual([{ ...payment(10, 1) }, { ...payment(12, 1) }]);

    await store.putDeadLetters([dead("u.1", "{}", { reason: "unmatched_order" })], "2026-11-20T10:00:01.000Z");
    const [item] = await scanAll(config, names.deadLetters);
    expect(item).toEqual({
      id: "u.1", reason: "unmatched_order", details: JSON.stringify(["body: too large"]), original: "{}", topic: "orders", subscription: "order",
      message_id: "m-u.1", type: null, business_key: null, attempts: 1, first_seen: "2026-11-20T10:00:00.000Z", last_seen: "2026-11-20T10:00:00.000Z",
      status: "pending", next_retry_at: "2026-11-20T10:00:01.000Z", due_reason: "unmatched_order", list_key: "2026-11-20T10:00:00.000Z|u.1",
      updated_at: expect.any(String), rev: 1,
    });
    await store.updateDeadLetters([{ id: "u.1", status: "reconciled", next_retry_at: null }]);
    const [after] = await scanAll(config, names.deadLetters);
    expect([after!.status, after!.rev, "due_reason" in after!, "next_retry_at" in after!]).toEqual(["reconciled", 2, false, false]);
  });

  test("a dead letter past DynamoDB's 400 KB is stored cut with its sizes and sha256, and a repeat and an update still fit", async () => {
    const { store } = await migrated();
    const original = JSON.stringify({ order_id: 5, blob: "é".repeat(300_000) }); // ~600 KB of UTF-8
    const bytes = Buffer.byteLength(original);
    const hash = createHash("sha256").update(original).digest("hex");
    await store.putDeadLetters([dead("big.1", original)], null);
    const stored = (await store.getDeadLetter("big.1"))!;
    const kept = Buffer.byteLength(stored.original);
    expect(original.startsWith(stored.original)).toBe(true);
    expect(kept).toBeGreaterThan(390_000);
    expect(kept).toBeLessThan(400_000);
    expect(stored.details).toEqual(["body: too large", `original cut to its first ${kept} of ${bytes} bytes to fit DynamoDB's 400 KB item limit; sha256 of the whole: ${hash}`]);
    await store.putDeadLetters([dead("big.1", original, { seen_at: "2026-11-20T11:00:00.000Z" })], null);
    expect(await store.getDeadLetter("big.1")).toMatchObject({ attempts: 2, last_seen: "2026-11-20T11:00:00.000Z", original: stored.original });
    await store.updateDeadLetters([{ id: "big.1", status: "discarded" }]);
    expect((await store.listDeadLetters({ status: "discarded", limit: 10 })).items.map((r) => [r.id, r.attempts])).toEqual([["big.1", 2]]);
  });

  test("a cursor this store did not issue is a non-retryable StoreError", async () => {
    const { store } = await migrated();
    const error = await store.listDeadLetters({ limit: 10, cursor: "bm9wZQ" }).catch((e) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect([error.retryable, error.message]).toEqual([false, 'cursor "bm9wZQ" was not issued by this store: pass the `next` of a previous page']);
  });

  test("an endpoint that does not answer: ping and writes reject with a retryable StoreError naming the call", async () => {
    const port = await freePort();
    const store = createDynamoStore(dynamoConfig({ endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: 1500 }));
    try {
      for (const call of [() => store.ping(), () => store.upsertOrders([order(1)]), () => store.applyPayments([payment(1, 1)])]) {
        const error = await call().catch((e) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(error.retryable).toBe(true);
        expect(error.message).toMatch(/^dynamodb: (ping|read of order 1|payment 1 of order 1) failed: /);
      }
    } finally {
      await store.close();
    }
  });
});

if (available) storeContract("dynamodb", async () => (await migrated()).store);
