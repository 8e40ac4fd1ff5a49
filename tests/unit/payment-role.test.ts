// The payment role's further looks: a payment whose order lands just after the first read is matched, not dead-lettered.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { loadConfig } from "../../src/config/load.ts";
import { openDb } from "../../src/db/open.ts";
import type { Order, Payment } from "../../src/domain/model.ts";
import { createLogger } from "../../src/log.ts";
import { handlePayments, LOOKS_MS, SECOND_LOOK_MS } from "../../src/roles/payment.ts";
import { openBase, type Base } from "../../src/runtime.ts";
import { createSqliteStore } from "../../src/store/sqlite.ts";
import type { Store } from "../../src/store/types.ts";
import type { Delivery } from "../../src/transport/types.ts";

const order: Order = {
  order_id: 41,
  customer_id: 7,
  item: "lamp",
  quantity: 1,
  price: 20,
  shipping_address: "1 Main St",
  order_status: "created",
  creation_date: "2026-01-01T00:00:00.000Z",
};
const payment: Payment = {
  payment_id: 901,
  order_id: 41,
  payment_method: "card",
  card_last_four: "4242",
  payment_status: "completed",
  payment_datetime: "2026-01-01T00:00:01.000Z",
};
const delivery: Delivery = {
  messageId: "m1",
  body: JSON.stringify({ id: "env-901", type: "payment", version: 1, produced_at: "2026-01-01T00:00:01.000Z", data: payment }),
  attributes: {},
  attempt: 1,
};

/** The payment counters named, 0 for one never counted. */
const counts = (ctx: Base["ctx"]) => {
  const c = ctx.counters.get("payment");
  return Object.fromEntries(["received", "processed", "matched", "unmatched", "dead_lettered"].map((k) => [k, c[k] ?? 0]));
};

let base: Base | null = null;
afterEach(async () => {
  await base?.close();
  base = null;
});

/** A real SQLite store whose applyPayments calls are recorded (time of each answer); `after` runs after each answer (1, 2, ...). */
async function setUp(after: (store: Store, answer: number) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "ecom-payment-"));
  const config = loadConfig({ flags: { "data-dir": dir, role: "payment", port: "0" }, env: {} });
  const real = createSqliteStore(await openDb(dir));
  const answers: { at: number; result: boolean[] }[] = [];
  const store: Store = Object.create(real, {
    applyPayments: {
      value: async (payments: Payment[]) => {
        const result = await real.applyPayments(payments);
        answers.push({ at: performance.now(), result: result.map((o) => o === "applied") });
        await after(real, answers.length);
        return result;
      },
    },
  });
  base = await openBase(config, createLogger("silent", pino.destination("/dev/null")), { store });
  return { ctx: base.ctx, real, answers };
}

test("a payment whose order is written after the first look is matched on the second, not dead-lettered", async () => {
  const { ctx, real, answers } = await setUp(async (store, n) => (n === 1 ? store.upsertOrders([order]) : undefined));
  expect(await handlePayments(ctx, [delivery], new AbortController().signal)).toBe("done");
  expect(answers.map((a) => a.result)).toEqual([[false], [true]]);
  expect(answers[1]!.at - answers[0]!.at).toBeGreaterThanOrEqual(SECOND_LOOK_MS - 1);
  expect(counts(ctx)).toEqual({ received: 1, processed: 1, matched: 1, unmatched: 0, dead_lettered: 0 });
  expect((await real.getFact(41))?.payment_id).toBe(901);
});

test("a payment whose order is still absent on the second look is dead-lettered once as unmatched_order", async () => {
  const { ctx, real, answers } = await setUp(async () => {});
  expect(await handlePayments(ctx, [delivery], new AbortController().signal)).toBe("done");
  expect(answers.map((a) => a.result)).toEqual([[false], [false]]);
  expect(counts(ctx)).toEqual({ received: 1, processed: 0, matched: 0, unmatched: 1, dead_lettered: 1 });
  expect(await real.getFact(41)).toBeNull();
});

test("stopping during the wait for the second look leaves the batch unacked (stopped), with nothing counted", async () => {
  const abort = new AbortController();
  const { ctx, answers } = await setUp(async (_, n) => (n === 1 ? abort.abort() : undefined));
  expect(await handlePayments(ctx, [delivery], abort.signal)).toBe("stopped");
  expect(answers.length).toBe(1);
  expect(counts(ctx)).toEqual({ received: 0, processed: 0, matched: 0, unmatched: 0, dead_lettered: 0 });
});

/** A payment of `order_id` (payment id 900 + order id), delivered as envelope `env-<payment id>`. */
const paymentFor = (order_id: number, i: number): Delivery => {
  const p = { ...payment, order_id, payment_id: 900 + order_id };
  return { ...delivery, messageId: `m${i}`, body: JSON.stringify({ id: `env-${p.payment_id}`, type: "payment", version: 1, produced_at: p.payment_datetime, data: p }) };
};

test("while each look matches some, the next is taken: orders arriving over three looks all match", async () => {
  const orders = [41, 42, 43].map((order_id) => ({ ...order, order_id }));
  // order 41 lands after the first try, 42 after the second look, 43 after the third
  const { ctx, real, answers } = await setUp(async (store, n) => (n <= 3 ? store.upsertOrders([orders[n - 1]!]) : undefined));
  expect(await handlePayments(ctx, [41, 42, 43].map(paymentFor), new AbortController().signal)).toBe("done");
  expect(answers.map((a) => a.result)).toEqual([[false, false, false], [true, false, false], [true, false], [true]]);
  expect(answers[2]!.at - answers[1]!.at).toBeGreaterThanOrEqual(LOOKS_MS[1] - 1);
  expect(answers[3]!.at - answers[2]!.at).toBeGreaterThanOrEqual(LOOKS_MS[2] - 1);
  expect(counts(ctx)).toEqual({ received: 3, processed: 3, matched: 3, unmatched: 0, dead_lettered: 0 });
  expect((await real.getFact(43))?.payment_id).toBe(943);
});

test("a look that matches none ends the looking; what is still missing after the last look is dead-lettered", async () => {
  const orders = [41, 42, 43, 44].map((order_id) => ({ ...order, order_id }));
  // one more order after each answer: every look matches one, and the fourth order lands too late
  const none = await setUp(async () => {});
  expect(await handlePayments(none.ctx, [41, 42].map(paymentFor), new AbortController().signal)).toBe("done");
  expect(none.answers.map((a) => a.result)).toEqual([[false, false], [false, false]]); // no progress: one look
  await base?.close();
  const late = await setUp(async (store, n) => (n <= 4 ? store.upsertOrders([orders[n - 1]!]) : undefined));
  expect(await handlePayments(late.ctx, [41, 42, 43, 44].map(paymentFor), new AbortController().signal)).toBe("done");
  expect(late.answers.map((a) => a.result)).toEqual([[false, false, false, false], [true, false, false, false], [true, false, false], [true, false]]);
  expect(counts(late.ctx)).toEqual({ received: 4, processed: 3, matched: 3, unmatched: 1, dead_lettered: 1 });
  expect(await late.real.getFact(44)).toEqual({ ...orders[3]!, payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null });
});
