// Final-state checks of a seeded run, through the HTTP API of a running ecom.
import { expect } from "bun:test";
import { orderAt } from "../../src/domain/generator.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { allDeadLetters, tempDir, type Running } from "./ecom.ts";
import type { Expected } from "./expected.ts";
import { waitFor } from "./wait.ts";

/** Waits until every order, matched payment and unmatched dead letter has been handled. */
export async function waitForCompletion(app: Running, exp: Expected, timeoutMs = 120_000) {
  const started = Date.now();
  const finished = waitFor("the pipeline to finish", async () => {
    const s = await app.get("/status");
    const c = s.counters;
    const done =
      c.order.processed === exp.orders &&
      c.analytics.processed === exp.orders &&
      c.payment.matched + c.dlq.reconciled === exp.matched.length &&
      c.dlq.pending === exp.unmatchedIds.length &&
      s.outbox.pending === 0;
    return done ? s : null;
  }, { timeoutMs, intervalMs: 250 });
  // A timeout explains itself: where the pipeline stood and what ecom last said.
  return finished.catch(async (error) => {
    const status = await app.get("/status").catch((e) => `unavailable: ${(e as Error).message}`);
    console.error(`waitForCompletion: gave up after ${Date.now() - started} ms; expected ${JSON.stringify({ orders: exp.orders, matched: exp.matched.length, unmatched: exp.unmatchedIds.length })}`);
    console.error(`/status: ${JSON.stringify(status)}`);
    // The dead letters that keep dlq.pending off its expected count, whole (reason, attempts, next retry).
    const expected = new Set(exp.unmatchedIds.map((id) => `unmatched_order.payment.${id}`));
    const pending = await allDeadLetters(app, "pending").catch((e) => [`unavailable: ${(e as Error).message}`]);
    const unexpected = pending.filter((d) => typeof d === "string" || !expected.has(d.id));
    const found = new Set(pending.map((d) => d?.id));
    console.error(`pending dead letters: ${pending.length}; unexpected: ${JSON.stringify(unexpected)}; expected but absent: ${JSON.stringify([...expected].filter((id) => !found.has(id)))}`);
    const log = join(tempDir("ecom-timeout-"), "output.log");
    writeFileSync(log, app.output());
    console.error(`ecom output: all of it in ${log}; the last 8000 chars:\n${app.output().slice(-8000)}`);
    throw error;
  });
}

/**
 * Every fact row, its payment, the pending dead letters and the duplicate counts, exactly. With `redeliveries`
 * (a real broker: a lost or late ack lets a message come back, absorbed by the inbox as a duplicate) each role's
 * duplicate count is a lower bound, the producer's own duplicates; everything else stays exact.
 */
export async function verifyFinal(app: Running, exp: Expected, seed: number, { redeliveries = false } = {}) {
  const status = await app.get("/status");
  const c = status.counters;
  expect(c.order.processed).toBe(exp.orders);
  expect(c.analytics.processed).toBe(exp.orders);
  for (const role of ["order", "analytics"]) {
    if (redeliveries) expect(c[role].duplicates).toBeGreaterThanOrEqual(exp.duplicatedOrders);
    else expect(c[role].duplicates).toBe(exp.duplicatedOrders);
  }
  expect(c.payment.matched + c.dlq.reconciled).toBe(exp.matched.length);
  expect(c.order.invalid + c.payment.invalid).toBe(0);

  const paymentOf = new Map(exp.matched.map((p) => [p.order_id, p]));
  const ids = Array.from({ length: exp.orders }, (_, i) => i + 1);
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(
      ids.slice(i, i + 50).map(async (id) => {
        const fact = await app.get(`/orders/${id}`);
        expect(fact).toMatchObject(orderAt(seed, id));
        const p = paymentOf.get(id);
        if (p) expect(fact).toMatchObject({ payment_id: p.payment_id, payment_method: p.payment_method, card_last_four: p.card_last_four, payment_status: p.payment_status, payment_datetime: p.payment_datetime });
        else expect(fact.payment_id).toBeNull();
      }),
    );
  }
  const missing = await app.request(`/orders/${exp.orders + 1}`);
  expect(missing.status).toBe(404);

  const pending = await allDeadLetters(app, "pending");
  expect(pending.map((d) => d.id).sort()).toEqual(exp.unmatchedIds.map((id) => `unmatched_order.payment.${id}`).sort());
  for (const d of pending) expect(d.reason).toBe("unmatched_order");
  return status;
}
