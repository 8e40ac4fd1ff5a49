// The DynamoDB tables of a finished seeded run, read with the SDK directly (not through ecom), checked exactly.
import { expect } from "bun:test";
import { DynamoDBClient, ScanCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import { orderAt } from "../../src/domain/generator.ts";
import type { Payment } from "../../src/domain/model.ts";
import { tableNames } from "../../src/store/dynamodb/names.ts";
import { allDeadLetters, type Running } from "./ecom.ts";
import { expectedRun, type Expected } from "./expected.ts";
import { moto } from "./services.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

export const dynamoClientFor = (endpoint = moto.endpoint) => new DynamoDBClient({ region: "us-east-1", endpoint });

const plain = (item: Record<string, AttributeValue>) =>
  Object.fromEntries(Object.entries(item).map(([k, v]) => [k, v.N !== undefined ? Number(v.N) : v.S !== undefined ? v.S : v.NULL ? null : v])) as Record<string, any>;

/** Every item of a table, by Scan (a test reads whole tables; ecom never scans). */
export async function scanTable(table: string, endpoint = moto.endpoint): Promise<Record<string, any>[]> {
  const client = dynamoClientFor(endpoint);
  const items: Record<string, any>[] = [];
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

const byKey = <T>(rows: T[], key: (r: T) => number | string) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/**
 * One fact item per order with exactly its payment (no payment attributes on an unpaid one), exactly the matched
 * payments in payments_by_id, and dead-letter records of which exactly the unmatched payments are pending (and in
 * the due index), every other one reconciled. Returns how many payments overtook their order and were reconciled.
 */
export async function verifyDynamoTables(prefix: string, exp: Expected, seed: number): Promise<{ reconciledRecords: number }> {
  const names = tableNames(prefix);
  const paymentOf = new Map(exp.matched.map((p) => [p.order_id, p]));
  const want = Array.from({ length: exp.orders }, (_, i) => {
    const p = paymentOf.get(i + 1);
    const { order_id: _o, ...rest } = p ?? ({} as Payment);
    return { ...orderAt(seed, i + 1), ...(p ? rest : {}) };
  });
  const facts = await scanTable(names.facts);
  expect(facts.length).toBe(exp.orders);
  expect(byKey(facts, (r) => r.order_id)).toEqual(want);

  const payments = await scanTable(names.payments);
  expect(byKey(payments, (r) => r.payment_id)).toEqual(byKey(exp.matched, (p) => p.payment_id));

  const records = await scanTable(names.deadLetters);
  const unmatched = new Set(exp.unmatchedIds.map((id) => `unmatched_order.payment.${id}`));
  const matchedIds = new Set(exp.matched.map((p) => `unmatched_order.payment.${p.payment_id}`));
  for (const r of records) {
    expect([r.id, r.reason, r.type, r.topic, r.list_key]).toEqual([r.id, "unmatched_order", "payment", "payments", `${r.first_seen}|${r.id}`]);
    if (unmatched.has(r.id)) expect([r.id, r.status, r.due_reason, typeof r.next_retry_at]).toEqual([r.id, "pending", "unmatched_order", "string"]);
    else expect([r.id, matchedIds.has(r.id), r.status, "due_reason" in r, "next_retry_at" in r]).toEqual([r.id, true, "reconciled", false, false]);
  }
  expect(records.filter((r) => r.status === "pending").map((r) => r.id).sort()).toEqual([...unmatched].sort());
  return { reconciledRecords: records.length - unmatched.size };
}

/** The seeded run the DynamoDB e2e tests drive: 5% unmatched payments, 2% duplicates. */
export const SEED = 13;
export const run = (n: number, rate = 0) => [`--orders=${n}`, `--payments=${n}`, "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", `--rate=${rate}`, `--seed=${SEED}`];
export const expected = (n: number) => expectedRun({ seed: SEED, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, n, n);
export const uid = () => `e${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
/** A fresh table prefix: each test has tables of its own on the shared moto. */
export const prefix = () => `${uid()}_`;
export const storeArgs = (p: string, endpoint = moto.endpoint) => ["--store=dynamodb", `--dynamodb-endpoint=${endpoint}`, `--dynamodb-table-prefix=${p}`];

export function expectNoFailures(counters: Record<string, Record<string, number | null>>) {
  for (const [role, c] of Object.entries(counters)) expect([role, c.failed]).toEqual([role, 0]);
}

/**
 * The API's view of a finished run: counters exact, exactly the unmatched payments pending in /dlq, and a sample of
 * orders through GET /orders/:id (every item is checked on the tables with the SDK; moto answers a GetItem in
 * tens of milliseconds on a loaded machine, so all 5,000 through the API would take minutes).
 */
export async function verifyApi(app: Running, e: Expected, seed: number, { redeliveries = false, sample = 100 } = {}) {
  const status = await app.get("/status");
  const c = status.counters;
  expect([c.order.processed, c.analytics.processed, c.payment.matched + c.dlq.reconciled, c.dlq.pending]).toEqual([e.orders, e.orders, e.matched.length, e.unmatchedIds.length]);
  if (redeliveries) expect(c.order.duplicates).toBeGreaterThanOrEqual(e.duplicatedOrders);
  else expect(c.order.duplicates).toBe(e.duplicatedOrders);
  const paymentOf = new Map(e.matched.map((p) => [p.order_id, p]));
  const step = Math.max(1, Math.floor(e.orders / sample));
  for (let id = 1; id <= e.orders; id += step) {
    const fact = await app.get(`/orders/${id}`);
    const p = paymentOf.get(id);
    expect(fact).toEqual({ ...orderAt(seed, id), payment_id: p?.payment_id ?? null, payment_method: p?.payment_method ?? null, card_last_four: p?.card_last_four ?? null, payment_status: p?.payment_status ?? null, payment_datetime: p?.payment_datetime ?? null });
  }
  expect((await app.request(`/orders/${e.orders + 1}`)).status).toBe(404);
  const pending = await allDeadLetters(app, "pending");
  expect(pending.map((d) => d.id).sort()).toEqual(e.unmatchedIds.map((id) => `unmatched_order.payment.${id}`).sort());
  return status;
}
