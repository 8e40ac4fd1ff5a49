// `ecom produce --from-file` (SPEC §3) against a running instance on the same data dir, and with none running.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDb, type DbHandle } from "../../src/db/open.ts";
import type { Order, Payment } from "../../src/domain/model.ts";
import { deadLetterId, maskBody } from "../../src/domain/validate.ts";
import { localQueueDepth } from "../../src/transport/local.ts";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { waitFor } from "../helpers/wait.ts";

const CARD = "4111111111111111";
const ROLES = ["order", "payment", "dlq"] as const;

let dir: string;
let app: Running;
let handle: DbHandle;

beforeAll(async () => {
  dir = tempDir();
  app = await startEcom(["--role=order,payment,dlq", `--data-dir=${dir}`]);
  handle = await openDb(dir);
}, 60_000);

afterAll(async () => {
  handle?.close();
  if (app) {
    expect(await app.stop()).toBe(0);
    app.proc.kill("SIGKILL");
  }
});

let nextId = 5000;
const order = (overrides: Partial<Record<keyof Order, unknown>> = {}): Order => {
  const id = nextId++;
  return { order_id: id, customer_id: 12, item: "Tablet", quantity: 1, price: 499, shipping_address: `${id} Oak Ave, Madison`, order_status: "pending", creation_date: "2026-02-03T04:05:06.000Z", ...overrides } as Order;
};
const payment = (orderId: number, overrides: Partial<Record<keyof Payment, unknown>> = {}): Payment => {
  const id = nextId++;
  return { payment_id: id, order_id: orderId, payment_method: "paypal", card_last_four: "0042", payment_status: "completed", payment_datetime: "2026-02-03T04:05:09.000Z", ...overrides } as Payment;
};
const paid = (o: Order, p: Payment) => ({ ...o, payment_id: p.payment_id, payment_method: p.payment_method, card_last_four: p.card_last_four, payment_status: p.payment_status, payment_datetime: p.payment_datetime });
const unpaid = (o: Order) => ({ ...o, payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null });

function file(name: string, text: string): string {
  const path = join(tempDir("ecom-produce-"), name);
  writeFileSync(path, text);
  return path;
}
const produce = (path: string, ...extra: string[]) => runEcom(["produce", "--from-file", path, `--data-dir=${dir}`, ...extra]);

type Counters = Record<string, Record<string, number>>;
/** Waits until the running roles have nothing in flight (the analytics subscription has no consumer here). */
async function idle(): Promise<{ counters: Counters; outbox: { pending: number; sent: number } }> {
  await waitFor("the pipeline idle", () => {
    const depth = localQueueDepth(handle);
    const outbox = handle.prepare("SELECT count(*) AS n FROM outbox").get<{ n: number }>()!.n;
    return ROLES.every((r) => !depth[r]) && outbox === 0;
  }, { timeoutMs: 30_000 });
  const status = await app.get("/status");
  return { counters: status.counters, outbox: status.outbox };
}
function delta(before: Counters, after: Counters, role: (typeof ROLES)[number]): Record<string, number> {
  return Object.fromEntries(Object.keys(after[role]!).map((n) => [n, after[role]![n]! - before[role]![n]!]).filter(([, v]) => v !== 0));
}
async function fact(orderId: number, until: (f: any) => boolean = () => true): Promise<any> {
  return waitFor(`order ${orderId} stored`, async () => {
    const res = await app.request(`/orders/${orderId}`);
    if (res.status === 404) return null;
    const f = await res.json();
    return until(f) ? f : null;
  }, { timeoutMs: 30_000 });
}
/** What the producer bookkeeping of `produce` wrote to the data dir. */
const producerCounters = () => Object.fromEntries(handle.prepare("SELECT name, value FROM counters WHERE scope = 'producer'").all<{ name: string; value: number }>().map((r) => [r.name, r.value]));

describe("ecom produce --from-file against a running instance", () => {
  test("NDJSON of mixed orders and payments: every record stored, payments matched", async () => {
    const { counters: before } = await idle();
    const [o1, o2, o3] = [order(), order({ item: "Camera", price: 649, quantity: 2 }), order()];
    const [p1, p2] = [payment(o1!.order_id), payment(o2!.order_id, { payment_method: "apple_pay", card_last_four: "9876" })];
    // Blank lines are skipped; a payment before its order is fine (matched or reconciled).
    const text = [o1, p1, "", o2, p2, o3].map((r) => (r === "" ? "" : JSON.stringify(r))).join("\n") + "\n";
    const run = await produce(file("mixed.ndjson", text));
    expect(run).toEqual({ code: 0, stdout: "took 3 orders and 2 payments\n", stderr: "" });

    expect(await fact(o1!.order_id, (f) => f.payment_id !== null)).toEqual(paid(o1!, p1!));
    expect(await fact(o2!.order_id, (f) => f.payment_id !== null)).toEqual(paid(o2!, p2!));
    expect(await fact(o3!.order_id)).toEqual(unpaid(o3!));
    await waitFor("both payments applied", async () => {
      const c = (await app.get("/status")).counters;
      return c.payment.matched - before.payment!.matched! + c.dlq.reconciled - before.dlq!.reconciled! === 2;
    });
    const { counters: after, outbox } = await idle();
    expect(delta(before, after, "order")).toEqual({ received: 3, processed: 3 });
    const pay = delta(before, after, "payment");
    expect(pay.received).toBe(2);
    expect((pay.matched ?? 0) + (after.dlq!.reconciled! - before.dlq!.reconciled!)).toBe(2);
    expect(outbox.pending).toBe(0);
    expect(after.dlq!.pending).toBe(0);
  }, 60_000);

  test("a JSON array of mixed records (a record with payment_id is a payment)", async () => {
    const { counters: before } = await idle();
    const [o1, o2] = [order(), order({ order_status: "shipped" })];
    const [p1, p2] = [payment(o1!.order_id), payment(o2!.order_id, { payment_status: "failed" })];
    const run = await produce(file("mixed.json", JSON.stringify([o1, p1, o2, p2], null, 2)));
    expect(run).toEqual({ code: 0, stdout: "took 2 orders and 2 payments\n", stderr: "" });
    expect(await fact(o1!.order_id, (f) => f.payment_id !== null)).toEqual(paid(o1!, p1!));
    expect(await fact(o2!.order_id, (f) => f.payment_id !== null)).toEqual(paid(o2!, p2!));
    await waitFor("both payments applied", async () => {
      const c = (await app.get("/status")).counters;
      return c.payment.matched - before.payment!.matched! + c.dlq.reconciled - before.dlq!.reconciled! === 2;
    });
    const { counters: after } = await idle();
    expect(delta(before, after, "order")).toEqual({ received: 2, processed: 2 });
    expect(delta(before, after, "payment").received).toBe(2);
  }, 60_000);

  // Line 1 valid, 2 malformed, 3 out of range, 4 blank, 5 a full card number, 6 neither kind, 7 valid payment.
  const invalidNdjson = () => {
    const good = order();
    const zero = order({ quantity: 0 });
    const card = payment(good.order_id, { card_last_four: CARD });
    const goodPayment = payment(good.order_id);
    const lines = [JSON.stringify(good), '{"order_id": 12, "item": ', JSON.stringify(zero), "", JSON.stringify(card), JSON.stringify({ sku: "A-1" }), JSON.stringify(goodPayment)];
    return { good, zero, card, goodPayment, lines, text: lines.join("\n") + "\n" };
  };
  const problemLines = (path: string) => [
    `${path}: line 2: malformed: not JSON: JSON Parse error: Unexpected EOF`,
    `${path}: line 3: invalid: quantity: Too small: expected number to be >=1`,
    `${path}: line 5: invalid: card_last_four: must be exactly 4 digits`,
    `${path}: line 6: invalid: neither an order (order_id) nor a payment (payment_id)`,
  ];

  test("an invalid NDJSON file: each bad line with its reason, exit 1, nothing published", async () => {
    const { counters: before, outbox: outboxBefore } = await idle();
    const producedBefore = producerCounters();
    // The running roles' subscriptions only: the analytics copies, which no process here consumes, are trimmed at
    // any idle moment (at most a second after the last ack), so a count of them taken now may be gone by the check.
    const queued = () => Object.fromEntries(Object.entries(localQueueDepth(handle)).filter(([s]) => (ROLES as readonly string[]).includes(s)));
    const queuedBefore = queued();
    const { good, text } = invalidNdjson();
    const path = file("bad.ndjson", text);
    const run = await produce(path);
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr: [...problemLines(path), "4 invalid record(s); nothing was published (use --skip-invalid to publish the valid ones and dead-letter the rest)", ""].join("\n"),
    });
    expect(run.stderr).not.toContain(CARD);
    // Nothing written: no outbox row, no queued delivery, no producer bookkeeping, no counters moved, no order.
    expect(handle.prepare("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 0 });
    expect(queued()).toEqual(queuedBefore);
    expect(producerCounters()).toEqual(producedBefore);
    const { counters: after, outbox } = await idle();
    expect(after).toEqual(before);
    expect(outbox).toEqual(outboxBefore);
    expect((await app.request(`/orders/${good.order_id}`)).status).toBe(404);
  }, 60_000);

  test("an invalid JSON array: each bad record by index; a broken array is refused whole", async () => {
    const { counters: before } = await idle();
    const producedBefore = producerCounters();
    const good = order();
    const path = file("bad.json", JSON.stringify([good, 42, order({ price: -1, order_id: 777777 }), payment(good.order_id, { payment_datetime: "soon" })]));
    const run = await produce(path);
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr: [
        `${path}: index 1: invalid: neither an order (order_id) nor a payment (payment_id)`,
        `${path}: index 2: invalid: price: Too small: expected number to be >=0`,
        `${path}: index 3: invalid: payment_datetime: must be an ISO-8601 date or date-time`,
        "3 invalid record(s); nothing was published (use --skip-invalid to publish the valid ones and dead-letter the rest)",
        "",
      ].join("\n"),
    });
    const broken = file("broken.json", `[${JSON.stringify(good)},`);
    const refused = await produce(broken);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toStartWith("ecom: --from-file: the file starts with [ but is not a valid JSON array: ");
    const missing = await produce("/nonexistent/orders.ndjson");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toStartWith("ecom: --from-file: cannot read /nonexistent/orders.ndjson: ");

    expect(handle.prepare("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 0 });
    expect(producerCounters()).toEqual(producedBefore);
    expect((await idle()).counters).toEqual(before);
    expect((await app.request(`/orders/${good.order_id}`)).status).toBe(404);
  }, 60_000);

  test("--skip-invalid publishes the valid records and dead-letters the invalid ones with their reasons", async () => {
    const { counters: before } = await idle();
    const { good, zero, card, goodPayment, lines, text } = invalidNdjson();
    const path = file("skip.ndjson", text);
    const run = await produce(path, "--skip-invalid");
    expect(run).toEqual({ code: 0, stdout: "took 1 orders and 1 payments; dead-lettered 4 invalid record(s)\n", stderr: problemLines(path).join("\n") + "\n" });

    expect(await fact(good.order_id, (f) => f.payment_id !== null)).toEqual(paid(good, goodPayment));
    const expectations = [
      { line: 2, reason: "malformed", errors: ["not JSON: JSON Parse error: Unexpected EOF"], type: null, key: null, topic: "orders" },
      { line: 3, reason: "invalid", errors: ["quantity: Too small: expected number to be >=1"], type: "order", key: String(zero.order_id), topic: "orders" },
      { line: 5, reason: "invalid", errors: ["card_last_four: must be exactly 4 digits"], type: "payment", key: String(card.payment_id), topic: "payments" },
      { line: 6, reason: "invalid", errors: ["neither an order (order_id) nor a payment (payment_id)"], type: null, key: null, topic: "orders" },
    ] as const;
    for (const e of expectations) {
      const raw = lines[e.line - 1]!;
      const id = deadLetterId(e.reason, e.type, e.key, raw);
      const record = await waitFor(`dead letter ${id}`, async () => {
        const res = await app.request(`/dlq/${encodeURIComponent(id)}`);
        return res.ok ? res.json() : null;
      });
      expect(record).toEqual({
        id,
        reason: e.reason,
        details: [`${path} line ${e.line}`, ...e.errors],
        original: maskBody(raw),
        topic: e.topic,
        subscription: "produce",
        message_id: `${path}:line ${e.line}`,
        type: e.type,
        business_key: e.key,
        attempts: 1,
        first_seen: record.first_seen,
        last_seen: record.first_seen,
        status: "pending",
        next_retry_at: null,
        updated_at: record.updated_at,
      });
    }
    const cardRecord = await app.get(`/dlq/invalid.payment.${card.payment_id}`);
    expect(JSON.parse(cardRecord.original)).toEqual({ ...card, card_last_four: "************1111" });
    expect(await (await app.request("/dlq?status=all&limit=1000")).text()).not.toContain(CARD);
    expect(app.output()).not.toContain(CARD);

    const { counters: after } = await idle();
    expect(delta(before, after, "order")).toEqual({ received: 1, processed: 1 });
    expect(delta(before, after, "payment").received).toBe(1);
    expect(delta(before, after, "dlq")).toMatchObject({ received: 4, processed: 4, dead_lettered: 4, pending: 4 });
  }, 60_000);
});

describe("ecom produce --from-file with no server running", () => {
  test("returns once its records are in the local queue; a server started later processes them", async () => {
    const alone = tempDir();
    const orders = [order(), order(), order({ item: "Printer", price: 219 })];
    const payments = [payment(orders[0]!.order_id), payment(orders[2]!.order_id)];
    const path = file("later.ndjson", [...orders, ...payments].map((r) => JSON.stringify(r)).join("\n"));
    const run = await runEcom(["produce", `--from-file=${path}`, `--data-dir=${alone}`]);
    expect(run).toEqual({ code: 0, stdout: "took 3 orders and 2 payments\n", stderr: "" });

    // Outbox drained into the local queue (orders fan out to the order and analytics subscriptions); lease given back.
    const db = await openDb(alone);
    try {
      expect(db.prepare("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 0 });
      expect(localQueueDepth(db)).toEqual({ order: 3, analytics: 3, payment: 2 });
      expect(db.prepare("SELECT count(*) AS n FROM relay_lease").get()).toEqual({ n: 0 });
      expect(Object.fromEntries(db.prepare("SELECT name, value FROM counters WHERE scope = 'producer'").all<{ name: string; value: number }>().map((r) => [r.name, r.value]))).toEqual({ orders: 3, payments: 2 });
    } finally {
      db.close();
    }

    const later = await startEcom(["--role=order,payment,analytics,dlq", `--data-dir=${alone}`]);
    try {
      const status = await waitFor("the queued records processed", async () => {
        const s = await later.get("/status");
        return s.counters.order.processed === 3 && s.counters.analytics.processed === 3 && s.counters.payment.matched + s.counters.dlq.reconciled === 2 ? s : null;
      }, { timeoutMs: 30_000 });
      expect(status.counters.order).toMatchObject({ received: 3, processed: 3, invalid: 0 });
      expect(status.counters.payment.received).toBe(2);
      for (const [i, o] of orders.entries()) {
        const p = payments.find((x) => x.order_id === o.order_id);
        const res = await later.request(`/orders/${o.order_id}`);
        expect([i, res.status]).toEqual([i, 200]);
        expect(await res.json()).toEqual(p ? paid(o, p) : unpaid(o));
      }
      expect((await later.get("/analytics")).orders).toBe(3);
      expect(await later.stop()).toBe(0);
    } finally {
      later.proc.kill("SIGKILL");
    }
  }, 90_000);
});
