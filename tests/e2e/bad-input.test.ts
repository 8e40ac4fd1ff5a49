// Bad input of SPEC §3 against the compiled binary: every class dead-lettered with its errors, the roles keep going,
// card numbers never leave masked; bare and SNS-wrapped orders are processed; replay and discard over HTTP and the CLI.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDb, type DbHandle } from "../../src/db/open.ts";
import type { Order, Payment } from "../../src/domain/model.ts";
import { deadLetterId, maskBody } from "../../src/domain/validate.ts";
import { createLocalTransport, localQueueDepth } from "../../src/transport/local.ts";
import type { TopicName, Transport } from "../../src/transport/types.ts";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { waitFor } from "../helpers/wait.ts";

const CARD = "4111111111111111";
const ROLES = ["order", "payment", "analytics", "dlq"] as const;
const BASE = ["received", "processed", "duplicates", "invalid", "dead_lettered", "failed"];
const COUNTERS: Record<string, string[]> = { order: BASE, analytics: [...BASE, "alerts"], payment: [...BASE, "matched", "unmatched"], dlq: [...BASE, "reconciled", "pending", "replayed"] };

let app: Running;
let handle: DbHandle;
let queue: Transport;

beforeAll(async () => {
  const dir = tempDir();
  // Retries of unmatched payments are an hour away, so only replay applies them here.
  app = await startEcom(["--role=order,payment,analytics,dlq", `--data-dir=${dir}`, "--max-message-bytes=2048", "--dlq-retry-base=1h", "--dlq-retry-max=1h", "--log-level=debug"]);
  // The test publishes raw bodies into the same data dir's local queue, as another process would.
  handle = await openDb(dir);
  queue = createLocalTransport(handle, { maxAttempts: 5, visibilityTimeoutMs: 30_000 });
}, 60_000);

afterAll(async () => {
  await queue?.close();
  handle?.close();
  if (app) {
    expect(await app.stop()).toBe(0);
    app.proc.kill("SIGKILL");
  }
});

let nextId = 1000;
const order = (overrides: Partial<Record<keyof Order, unknown>> = {}): Order => {
  const id = nextId++;
  return { order_id: id, customer_id: 77, item: "Keyboard", quantity: 2, price: 89.9, shipping_address: `${id} Elm St, Salem`, order_status: "processing", creation_date: "2026-01-02T03:04:05.000Z", ...overrides } as Order;
};
const payment = (orderId: number, overrides: Partial<Record<keyof Payment, unknown>> = {}): Payment => {
  const id = nextId++;
  return { payment_id: id, order_id: orderId, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-01-02T03:04:09.000Z", ...overrides } as Payment;
};
const envelope = (type: string, data: unknown, id: string = randomUUID()) => JSON.stringify({ id, type, version: 1, produced_at: new Date().toISOString(), data });
const noPayment = { payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null };

/** Publishes raw bodies in one batch to a topic; returns the broker message ids. */
async function publish(topic: TopicName, ...bodies: string[]): Promise<string[]> {
  const messages = bodies.map((body) => ({ id: `test-${randomUUID()}`, topic, body }));
  expect((await queue.publish(messages)).failed).toEqual([]);
  return messages.map((m) => m.id);
}

type Counters = Record<string, Record<string, number>>;
const counters = async (): Promise<Counters> => (await app.get("/status")).counters;
/** Waits until nothing is in flight: no delivery waiting in the local queue, no outbox row unsent. Returns the counters. */
async function idle(): Promise<Counters> {
  await waitFor("the pipeline idle", () => {
    const depth = localQueueDepth(handle);
    const outbox = handle.prepare("SELECT count(*) AS n FROM outbox").get<{ n: number }>()!.n;
    return Object.keys(depth).length === 0 && outbox === 0;
  }, { timeoutMs: 30_000 });
  return counters();
}
/** Every counter of every role: after minus before. */
function delta(before: Counters, after: Counters): Counters {
  return Object.fromEntries(ROLES.map((r) => [r, Object.fromEntries(COUNTERS[r]!.map((n) => [n, (after[r]![n] ?? 0) - (before[r]![n] ?? 0)]))]));
}
/** A delta with every counter 0 except those given. */
function expected(changes: Record<string, Record<string, number>>): Counters {
  return Object.fromEntries(ROLES.map((r) => [r, Object.fromEntries(COUNTERS[r]!.map((n) => [n, changes[r]?.[n] ?? 0]))]));
}

async function deadLetter(id: string, status = "pending"): Promise<any> {
  return waitFor(`dead letter ${id} (${status})`, async () => {
    const res = await app.request(`/dlq/${encodeURIComponent(id)}`);
    if (res.status === 404) return null;
    const record = await res.json();
    return record.status === status ? record : null;
  }, { timeoutMs: 30_000 });
}

async function fact(orderId: number, until: (f: any) => boolean = () => true): Promise<any> {
  return waitFor(`order ${orderId} stored`, async () => {
    const res = await app.request(`/orders/${orderId}`);
    if (res.status === 404) return null;
    const f = await res.json();
    return until(f) ? f : null;
  }, { timeoutMs: 30_000 });
}

/** Waits until every counter of `want` (a delta from `before`) was reached. */
async function countersReach(before: Counters, want: Record<string, Record<string, number>>): Promise<Counters> {
  return waitFor(`counters ${JSON.stringify(want)}`, async () => {
    const now = await counters();
    const d = delta(before, now);
    return Object.entries(want).every(([role, names]) => Object.entries(names).every(([n, v]) => d[role]![n]! >= v)) ? now : null;
  }, { timeoutMs: 30_000 });
}

interface BadCase {
  body: string;
  reason: "malformed" | "invalid";
  errors: string[];
  type: string | null;
  key: string | null;
  /** Envelope id, when the body had one. */
  envelopeId?: string;
}

/**
 * Publishes bad bodies and then a valid order on the orders topic; checks each dead-letter record exactly,
 * that the valid order after them was stored, and the counters of every role exactly.
 */
async function badOrders(cases: BadCase[]) {
  const before = await idle();
  const good = order();
  const ids = await publish("orders", ...cases.map((c) => c.body), envelope("order", good));
  for (const [i, c] of cases.entries()) {
    const id = deadLetterId(c.reason, c.type, c.key, c.body);
    const record = await deadLetter(id);
    expect(record).toEqual({
      id,
      reason: c.reason,
      details: c.errors,
      original: maskBody(c.body),
      topic: "orders",
      subscription: "order",
      message_id: c.envelopeId ?? ids[i],
      type: c.type,
      business_key: c.key,
      attempts: 1,
      first_seen: record.first_seen,
      last_seen: record.first_seen,
      status: "pending",
      next_retry_at: null,
      updated_at: record.updated_at,
    });
    expect(Date.parse(record.first_seen)).toBeGreaterThan(Date.now() - 120_000);
  }
  // The role kept going: the order published after the bad ones is stored.
  expect(await fact(good.order_id)).toEqual({ ...good, ...noPayment });
  const n = cases.length;
  await countersReach(before, { order: { processed: 1 }, analytics: { processed: 1 }, dlq: { processed: n } });
  const after = await idle();
  expect(delta(before, after)).toEqual(
    expected({
      order: { received: n + 1, processed: 1, invalid: n, dead_lettered: n },
      analytics: { received: n + 1, processed: 1, invalid: n },
      dlq: { received: n, processed: n, dead_lettered: n, pending: n },
    }),
  );
}

describe("bad input is dead-lettered with its errors and never stops a role", () => {
  test("malformed JSON", async () => {
    await badOrders([
      { body: `{"order_id": 1, "item": "Laptop"`, reason: "malformed", errors: ["not JSON: JSON Parse error: Expected '}'"], type: null, key: null },
      { body: "", reason: "malformed", errors: ["not JSON: JSON Parse error: Unexpected EOF"], type: null, key: null },
    ]);
  }, 60_000);

  test("a JSON array and other non-objects", async () => {
    await badOrders([
      { body: JSON.stringify([order()]), reason: "malformed", errors: ["expected a JSON object, got an array"], type: null, key: null },
      { body: "42", reason: "malformed", errors: ["expected a JSON object, got number"], type: null, key: null },
      { body: "null", reason: "malformed", errors: ["expected a JSON object, got null"], type: null, key: null },
    ]);
  }, 60_000);

  test('unknown type (envelope type "refund")', async () => {
    const envId = randomUUID();
    await badOrders([
      { body: envelope("refund", order(), envId), reason: "invalid", errors: ['type: unknown message type "refund"; expected order or payment'], type: null, key: null, envelopeId: envId },
      { body: JSON.stringify({ sku: "A-1", amount: 3 }), reason: "invalid", errors: ["unknown message type: neither an envelope nor an order (order_id) or payment (payment_id)"], type: null, key: null },
    ]);
  }, 60_000);

  test("missing field", async () => {
    const { shipping_address: _, ...incomplete } = order();
    const envId = randomUUID();
    await badOrders([
      { body: envelope("order", incomplete, envId), reason: "invalid", errors: ["shipping_address: Invalid input: expected string, received undefined"], type: "order", key: String(incomplete.order_id), envelopeId: envId },
    ]);
  }, 60_000);

  test('mistyped field (quantity "2")', async () => {
    const o = order({ quantity: "2" });
    const envId = randomUUID();
    await badOrders([{ body: envelope("order", o, envId), reason: "invalid", errors: ["quantity: Invalid input: expected number, received string"], type: "order", key: String(o.order_id), envelopeId: envId }]);
  }, 60_000);

  test("out-of-range values (quantity 0, negative price)", async () => {
    const zero = order({ quantity: 0 });
    const negative = order({ price: -5 });
    await badOrders([
      { body: JSON.stringify(zero), reason: "invalid", errors: ["quantity: Too small: expected number to be >=1"], type: "order", key: String(zero.order_id) },
      { body: JSON.stringify(negative), reason: "invalid", errors: ["price: Too small: expected number to be >=0"], type: "order", key: String(negative.order_id) },
    ]);
  }, 60_000);

  test("oversize body (> --max-message-bytes=2048)", async () => {
    const body = envelope("order", order({ item: "x".repeat(3000) }));
    const bytes = Buffer.byteLength(body);
    expect(bytes).toBeGreaterThan(2048);
    await badOrders([{ body, reason: "invalid", errors: [`body is ${bytes} bytes; the limit is 2048`], type: null, key: null }]);
  }, 60_000);

  test("a full card number in card_last_four: invalid, masked in the record, nowhere in logs or the API", async () => {
    const o = order();
    await publish("orders", envelope("order", o));
    await fact(o.order_id);
    const before = await idle();
    const leaked = payment(o.order_id, { card_last_four: CARD });
    const spaced = payment(o.order_id, { card_last_four: "4111 1111 1111 1111" });
    const good = payment(o.order_id);
    const leakedEnv = randomUUID();
    const bodies = [envelope("payment", leaked, leakedEnv), JSON.stringify(spaced), envelope("payment", good)];
    const ids = await publish("payments", ...bodies);

    const record = await deadLetter(`invalid.payment.${leaked.payment_id}`);
    expect(record).toMatchObject({
      reason: "invalid",
      details: ["card_last_four: must be exactly 4 digits"],
      topic: "payments",
      subscription: "payment",
      message_id: leakedEnv,
      type: "payment",
      business_key: String(leaked.payment_id),
      status: "pending",
    });
    expect(JSON.parse(record.original)).toEqual({ ...JSON.parse(bodies[0]!), data: { ...leaked, card_last_four: "************1111" } });
    const second = await deadLetter(`invalid.payment.${spaced.payment_id}`);
    expect(second).toMatchObject({ reason: "invalid", details: ["card_last_four: must be exactly 4 digits"], message_id: ids[1] });
    expect(JSON.parse(second.original)).toEqual({ ...spaced, card_last_four: "************1111" });

    // The payment after them was applied.
    expect(await fact(o.order_id, (f) => f.payment_id !== null)).toEqual({ ...o, payment_id: good.payment_id, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: good.payment_datetime });
    await countersReach(before, { payment: { processed: 1 }, dlq: { processed: 2 } });
    const after = await idle();
    expect(delta(before, after)).toEqual(
      expected({ payment: { received: 3, processed: 1, matched: 1, invalid: 2, dead_lettered: 2 }, dlq: { received: 2, processed: 2, dead_lettered: 2, pending: 2 } }),
    );

    const api = [
      await (await app.request("/dlq?status=all&limit=1000")).text(),
      await (await app.request("/dlq?reason=invalid")).text(),
      await (await app.request(`/dlq/${record.id}`)).text(),
      await (await app.request(`/dlq/${second.id}`)).text(),
      await (await app.request(`/orders/${o.order_id}`)).text(),
      await (await app.request("/metrics")).text(),
    ];
    expect(api[0]).toContain(record.id);
    // The process output is captured (analytics logs each order), and holds no card number.
    expect(app.output()).toContain(`"order_id":${o.order_id}`);
    for (const text of [...api, app.output()]) {
      expect(text).not.toContain(CARD);
      expect(text).not.toContain("4111 1111 1111 1111");
    }
  }, 60_000);
});

describe("an HTTP address ecom cannot serve on", () => {
  test("a taken port or a bad host: exit 2 naming the setting, before anything is produced", async () => {
    for (const [flags, reason] of [
      [[`--port=${app.port}`], `cannot serve HTTP on --host=127.0.0.1 --port=${app.port}: the port is already in use`],
      [["--host=999.1.1.1", "--port=0"], "cannot serve HTTP on --host=999.1.1.1 --port=0: the host is neither an IP address nor a name that resolves"],
    ] as const) {
      const dir = tempDir();
      const run = await runEcom(["--role=all", `--data-dir=${dir}`, "--rate=0", "--orders=50", "--payments=50", ...flags]);
      expect({ code: run.code, stderr: run.stderr.trim() }).toEqual({ code: 2, stderr: `ecom: ${reason}` });
      const db = await openDb(dir);
      try {
        expect(db.prepare("SELECT COUNT(*) AS n FROM outbox").get()).toEqual({ n: 0 });
        expect(db.prepare("SELECT COUNT(*) AS n FROM producer_state").get()).toEqual({ n: 0 });
      } finally {
        db.close();
      }
    }
  }, 60_000);
});

describe("a data dir ecom cannot use", () => {
  test("a file where the directory should be: exit 2 naming --data-dir and the path, for the pipeline and subcommands", async () => {
    const file = join(tempDir(), "not-a-dir");
    writeFileSync(file, "x");
    for (const args of [["--role=all", "--port=0"], ["produce", "--from-file=/dev/null"], ["migrate"]]) {
      const run = await runEcom([...args, `--data-dir=${file}`]);
      expect(run.code).toBe(2);
      expect(run.stderr).toStartWith(`ecom: --data-dir: cannot open ${file}/ecom.db: `);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    }
  }, 30_000);
});

describe("card numbers pasted into free-text fields", () => {
  test("the order and its payment are processed with the number masked to its last four: in the fact row, /analytics and the logs", async () => {
    const before = await idle();
    // A large order, so its item also reaches /analytics top_items.
    const o = order({ item: `Gift ${CARD}`, shipping_address: "1 Elm St, card 4111-1111-1111-1111", quantity: 5000, price: 999 });
    const p = payment(o.order_id, { payment_method: CARD });
    await publish("orders", envelope("order", o));
    await fact(o.order_id);
    await publish("payments", envelope("payment", p));
    const stored = await fact(o.order_id, (f) => f.payment_id !== null);
    expect(stored).toEqual({
      ...o,
      item: "Gift ************1111",
      shipping_address: "1 Elm St, card ************1111",
      payment_id: p.payment_id,
      payment_method: "************1111",
      card_last_four: "4242",
      payment_status: "completed",
      payment_datetime: p.payment_datetime,
    });
    await countersReach(before, { order: { processed: 1 }, analytics: { processed: 1 }, payment: { processed: 1 } });
    const after = await idle();
    expect(delta(before, after)).toEqual(
      expected({ order: { received: 1, processed: 1 }, analytics: { received: 1, processed: 1, alerts: 1 }, payment: { received: 1, processed: 1, matched: 1 } }),
    );
    const analytics = await app.get("/analytics");
    expect(analytics.top_items.map((i: { item: string }) => i.item)).toContain("Gift ************1111");
    const texts = [JSON.stringify(analytics), await (await app.request(`/orders/${o.order_id}`)).text(), await (await app.request("/status")).text(), app.output()];
    for (const text of texts) {
      expect(text).not.toContain(CARD);
      expect(text).not.toContain("4111-1111-1111-1111");
    }
  }, 60_000);
});

describe("the original producers' formats are processed, not dead-lettered", () => {
  test("a bare order and SNS notifications around an order", async () => {
    const before = await idle();
    const totalBefore = (await app.get("/dlq?status=all")).total;
    const bare = order();
    const snsBare = order({ item: "Monitor", price: 329 });
    const snsEnvelope = order({ item: "Mouse", price: 39.99 });
    const sns = (message: string) =>
      JSON.stringify({
        Type: "Notification",
        MessageId: randomUUID(),
        TopicArn: "arn:aws:sns:us-east-1:000000000000:orders_topic",
        Message: message,
        Timestamp: new Date().toISOString(),
        SignatureVersion: "1",
        Signature: "c2lnbmF0dXJl",
        SigningCertURL: "https://sns.us-east-1.amazonaws.com/cert.pem",
        UnsubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
      });
    await publish("orders", JSON.stringify(bare), sns(JSON.stringify(snsBare)), sns(envelope("order", snsEnvelope)));
    for (const o of [bare, snsBare, snsEnvelope]) expect(await fact(o.order_id)).toEqual({ ...o, ...noPayment });
    await countersReach(before, { order: { processed: 3 }, analytics: { processed: 3 } });
    const after = await idle();
    expect(delta(before, after)).toEqual(expected({ order: { received: 3, processed: 3 }, analytics: { received: 3, processed: 3 } }));
    expect((await app.get("/dlq?status=all")).total).toBe(totalBefore);
  }, 60_000);
});

describe("replay and discard", () => {
  /** Publishes payments whose orders do not exist yet; waits for their unmatched_order records. */
  async function unmatched(n: number): Promise<{ orders: Order[]; payments: Payment[]; records: any[] }> {
    const orders = Array.from({ length: n }, () => order());
    const payments = orders.map((o) => payment(o.order_id));
    await publish("payments", ...payments.map((p) => envelope("payment", p)));
    const records = [];
    for (const p of payments) records.push(await deadLetter(`unmatched_order.payment.${p.payment_id}`));
    return { orders, payments, records };
  }
  const paid = (o: Order, p: Payment) => ({ ...o, payment_id: p.payment_id, payment_method: p.payment_method, card_last_four: p.card_last_four, payment_status: p.payment_status, payment_datetime: p.payment_datetime });

  test("API: replaying an unmatched payment after its order arrived applies it; discard marks discarded", async () => {
    const { orders: [o], payments: [p], records: [record] } = await unmatched(1);
    expect(record).toMatchObject({ reason: "unmatched_order", details: [`order ${o!.order_id} does not exist (yet)`], topic: "payments", subscription: "payment", type: "payment", business_key: String(p!.payment_id), status: "pending", attempts: 1 });
    // The automatic retry is an hour away.
    expect(Date.parse(record.next_retry_at) - Date.now()).toBeGreaterThan(50 * 60_000);
    await publish("orders", envelope("order", o));
    expect(await fact(o!.order_id)).toEqual({ ...o, ...noPayment });

    const before = await idle();
    const res = await app.request(`/dlq/${record.id}/replay`, { method: "POST" });
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer).toEqual({ replayed: [{ id: record.id, topic: "payments", message_id: answer.replayed[0].message_id }], skipped: [], count: 1 });
    expect(await fact(o!.order_id, (f) => f.payment_id !== null)).toEqual(paid(o!, p!));
    expect(await deadLetter(record.id, "replayed")).toMatchObject({ id: record.id, status: "replayed", next_retry_at: null });
    await countersReach(before, { payment: { matched: 1 } });
    const after = await idle();
    expect(delta(before, after)).toEqual(expected({ payment: { received: 1, processed: 1, matched: 1 }, dlq: { replayed: 1, pending: -1 } }));

    // Replaying a record whose input is still bad dead-letters it again: back to pending, attempts 2.
    const { shipping_address: _, ...incomplete } = order();
    const body = envelope("order", incomplete);
    await publish("orders", body);
    const bad = await deadLetter(`invalid.order.${incomplete.order_id}`);
    expect((await app.request(`/dlq/${bad.id}/replay`, { method: "POST" })).status).toBe(200);
    const again = await waitFor("the replayed bad order dead-lettered again", async () => {
      const r = await app.get(`/dlq/${bad.id}`);
      return r.attempts === 2 && r.status === "pending" ? r : null;
    });
    expect(again).toMatchObject({ reason: "invalid", details: ["shipping_address: Invalid input: expected string, received undefined"], original: bad.original });

    // Discard.
    const del = await app.request(`/dlq/${bad.id}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ id: bad.id, status: "discarded" });
    expect(await app.get(`/dlq/${bad.id}`)).toMatchObject({ id: bad.id, status: "discarded", attempts: 2 });
    expect((await app.get("/dlq?status=discarded")).items.map((r: any) => r.id)).toContain(bad.id);
    expect((await app.get("/dlq?limit=1000")).items.map((r: any) => r.id)).not.toContain(bad.id);

    // Unknown ids.
    for (const [method, path] of [["POST", "/dlq/nope/replay"], ["DELETE", "/dlq/nope"], ["GET", "/dlq/nope"]] as const) {
      const r = await app.request(path, { method });
      expect(r.status).toBe(404);
      expect(await r.json()).toEqual({ error: "not_found", detail: "no dead letter nope" });
    }
  }, 90_000);

  test("API: POST /dlq/replay?reason=unmatched_order replays every pending one and answers the count", async () => {
    expect((await app.get("/dlq?reason=unmatched_order")).total).toBe(0);
    const { orders, payments, records } = await unmatched(3);
    await publish("orders", ...orders.map((o) => envelope("order", o)));
    for (const o of orders) await fact(o.order_id);
    const pendingInvalid = (await app.get("/dlq?reason=invalid")).total;
    const res = await app.request("/dlq/replay?reason=unmatched_order", { method: "POST" });
    expect(res.status).toBe(200);
    const answer = await res.json();
    expect(answer.count).toBe(3);
    expect(answer.skipped).toEqual([]);
    expect(answer.replayed.map((r: any) => [r.id, r.topic]).sort()).toEqual(records.map((r) => [r.id, "payments"]).sort());
    for (const [i, o] of orders.entries()) expect(await fact(o.order_id, (f) => f.payment_id !== null)).toEqual(paid(o, payments[i]!));
    for (const r of records) expect((await deadLetter(r.id, "replayed")).status).toBe("replayed");
    // Other reasons were left alone.
    expect((await app.get("/dlq?reason=invalid")).total).toBe(pendingInvalid);
    expect((await app.get("/dlq?reason=unmatched_order")).total).toBe(0);
  }, 90_000);

  test("CLI: ecom dlq list | show | replay ID | replay --all | discard ID --url", async () => {
    const url = `--url=${app.url}`;
    const { orders: [o], payments: [p], records: [record] } = await unmatched(1);

    const list = await runEcom(["dlq", "list", "--reason=unmatched_order", url]);
    expect(list.code).toBe(0);
    expect(list.stderr).toBe("");
    const listed = JSON.parse(list.stdout);
    expect(listed.total).toBe(1);
    expect(listed.items.map((r: any) => r.id)).toEqual([record.id]);
    expect(listed.next).toBeNull();

    const show = await runEcom(["dlq", "show", record.id, url]);
    expect([show.code, JSON.parse(show.stdout).id]).toEqual([0, record.id]);

    await publish("orders", envelope("order", o));
    await fact(o!.order_id);
    const replay = await runEcom(["dlq", "replay", record.id, url]);
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ count: 1, skipped: [], replayed: [{ id: record.id, topic: "payments" }] });
    expect(await fact(o!.order_id, (f) => f.payment_id !== null)).toEqual(paid(o!, p!));
    expect((await deadLetter(record.id, "replayed")).status).toBe("replayed");

    const replayedList = JSON.parse((await runEcom(["dlq", "list", "--status=replayed", "--limit=1000", url])).stdout);
    expect(replayedList.items.map((r: any) => r.id)).toContain(record.id);

    const { records: [other] } = await unmatched(1);
    const discard = await runEcom(["dlq", "discard", other.id, url]);
    expect(discard.code).toBe(0);
    expect(JSON.parse(discard.stdout)).toMatchObject({ id: other.id, status: "discarded" });
    expect(await app.get(`/dlq/${other.id}`)).toMatchObject({ status: "discarded" });

    // replay --all --reason: every pending record of that reason.
    const { orders: twoOrders, payments: twoPayments, records: two } = await unmatched(2);
    await publish("orders", ...twoOrders.map((x) => envelope("order", x)));
    for (const x of twoOrders) await fact(x.order_id);
    const all = await runEcom(["dlq", "replay", "--all", "--reason=unmatched_order", url]);
    expect(all.code).toBe(0);
    const replayedAll = JSON.parse(all.stdout);
    expect([replayedAll.count, replayedAll.replayed.map((r: any) => r.id).sort()]).toEqual([2, two.map((r) => r.id).sort()]);
    for (const [i, x] of twoOrders.entries()) expect(await fact(x.order_id, (f) => f.payment_id !== null)).toEqual(paid(x, twoPayments[i]!));

    // Failures: unknown id (the API's answer, exit 1), nothing listening (exit 1 with a hint), missing id (exit 2).
    const missing = await runEcom(["dlq", "replay", "nope", url]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toEqual({ error: "not_found", detail: "no dead letter nope" });
    const down = await runEcom(["dlq", "list", "--url=http://127.0.0.1:9"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toStartWith("ecom: cannot reach http://127.0.0.1:9: ");
    expect(down.stderr).toContain("(is ecom running? set --url)");
    const noId = await runEcom(["dlq", "discard", url]);
    expect(noId).toEqual({ code: 2, stdout: "", stderr: "ecom: dlq discard needs an ID\n" });
  }, 90_000);
});
