// Payment role: payments → validate → set the payment on its order's fact row, or dead-letter (unmatched_order,
// duplicate_charge).
import { whenWritable } from "../db/busy.ts";
import type { Payment } from "../domain/model.ts";
import { isDuplicateCharge, type DuplicateCharge, type PaymentOutcome } from "../store/types.ts";
import type { Delivery, TransactionalAck } from "../transport/types.ts";
import type { RoleContext, RunningRole } from "./context.ts";
import { pause } from "./context.ts";
import { commit, consumerRole, deadLetterFor, firstPerKey, observeLatency, splitBatch, storeInTransaction, untilStored, type Valid } from "./consume.ts";

/**
 * A payment whose order is absent gets more looks before it is dead-lettered, the first this long after the first try:
 * a payment consumed while its order's batch is still being written (the common race) then matches here, instead of
 * taking the detour through the dead-letter records, the dead-letter topic and a reconciliation pass, which costs
 * several times more.
 */
export const SECOND_LOOK_MS = 100;
/**
 * The waits before each further look. A look is taken only while the one before matched some of the missing payments
 * (their orders are arriving: the payment consumer runs ahead of the order consumer, as in a backlog where the payments
 * subscription drains faster); when a look matches none, the rest are dead-lettered at once. So a payment whose order
 * does not exist costs one look, and one that overtook its order in a backlog waits up to 700 ms in all.
 */
export const LOOKS_MS = [SECOND_LOOK_MS, 200, 400] as const;

const inboxItem = (v: Valid<Payment>) => ({ messageId: v.envelopeId, businessKey: String(v.data.payment_id) });

/** Payments of the batch not processed before (inbox), the first per payment id. */
function newPayments(ctx: RoleContext, valid: Valid<Payment>[]): Valid<Payment>[] {
  const seen = ctx.inbox.seen("payment", valid.map(inboxItem));
  return firstPerKey(valid.filter((_, i) => !seen[i]), (p) => p.payment_id).first;
}

export async function handlePayments(ctx: RoleContext, batch: Delivery[], signal: AbortSignal, ack?: TransactionalAck): Promise<"done" | "stopped"> {
  const { valid, deadLetters, invalid } = splitBatch<Payment>(ctx, "payment", "payment", batch);
  const sameDb = storeInTransaction(ctx);
  let first: Valid<Payment>[] = [];
  let outcomes: PaymentOutcome[] = [];
  if (sameDb && deadLetters.length === 0) {
    // The store is this database: the lookup, the fact updates and, when every new payment found its order (the common
    // case), the inbox entries, counters and ack commit as one. Otherwise the updates commit alone and the rest takes
    // the looks below, as with any store.
    const done = await whenWritable(() => ctx.db.transaction(() => {
      first = newPayments(ctx, valid);
      outcomes = sameDb.applyPayments(first.map((v) => v.data));
      if (!outcomes.every((o) => o === "applied")) return false;
      const fresh = ctx.inbox.record("payment", first.map(inboxItem)).filter(Boolean).length;
      ctx.counters.add("payment", { received: batch.length, processed: fresh, matched: fresh, unmatched: 0, duplicates: valid.length - fresh, invalid: 0, dead_lettered: 0 });
      ack?.ackInTransaction();
      return true;
    }, { behavior: "immediate" }), signal, { storage: "wait" });
    if (done) {
      observeLatency(ctx, "payment", first);
      return "done";
    }
  } else {
    first = newPayments(ctx, valid);
    if (first.length) {
      const result = await untilStored(ctx, "payment", signal, () => ctx.store.applyPayments(first.map((v) => v.data)));
      if (result === null) return "stopped";
      outcomes = [...result];
    }
  }
  for (const wait of LOOKS_MS) {
    const missing = first.map((_, i) => i).filter((i) => outcomes[i] === "unmatched");
    if (!missing.length) break;
    await pause(wait, signal);
    const again = await untilStored(ctx, "payment", signal, () => ctx.store.applyPayments(missing.map((i) => first[i]!.data)));
    if (again === null) return "stopped";
    missing.forEach((i, k) => (outcomes[i] = again[k]!));
    if (again.every((o) => o === "unmatched")) break;
  }
  const matched = first.filter((_, i) => outcomes[i] === "applied");
  const unmatched = first.filter((_, i) => outcomes[i] === "unmatched");
  const charged = first.flatMap((v, i) => (isDuplicateCharge(outcomes[i]!) ? [{ v, dup: outcomes[i] as DuplicateCharge }] : []));
  // Unmatched payments are not recorded in the inbox: the dlq role applies them once their order exists.
  for (const u of unmatched) {
    deadLetters.push(
      deadLetterFor(ctx, "payment", u.delivery, "unmatched_order", [`order ${u.data.order_id} does not exist (yet)`], {
        type: "payment",
        businessKey: String(u.data.payment_id),
        envelopeId: u.envelopeId,
      }),
    );
  }
  for (const { v, dup } of charged) {
    deadLetters.push(
      deadLetterFor(ctx, "payment", v.delivery, "duplicate_charge", duplicateChargeDetails(v.data, dup), {
        type: "payment",
        businessKey: String(v.data.payment_id),
        envelopeId: v.envelopeId,
      }),
    );
  }
  if (charged.length) {
    const pairs = charged.slice(0, 5).map(({ v, dup }) => `order ${v.data.order_id}: ${dup.kept_payment_id} kept, ${v.data.payment_id} not applied`);
    ctx.log.warn({ role: "payment", count: charged.length, pairs }, "duplicate charges dead-lettered for an operator to refund");
  }
  // Applied and duplicate-charge payments are done: recorded, so a redelivery is a duplicate.
  const done = [...matched, ...charged.map((c) => c.v)];
  const committed = await commit(ctx, "payment", signal, deadLetters, (tx) => {
    const isNew = ctx.inbox.record("payment", done.map(inboxItem), tx);
    const fresh = isNew.filter(Boolean).length;
    const freshMatched = isNew.slice(0, matched.length).filter(Boolean).length;
    ctx.counters.add("payment", {
      received: batch.length,
      processed: fresh,
      matched: freshMatched,
      unmatched: unmatched.length,
      duplicate_charges: fresh - freshMatched,
      duplicates: valid.length - fresh - unmatched.length,
      invalid,
      dead_lettered: deadLetters.length,
    }, tx);
  }, ack);
  if (!committed) return "stopped";
  observeLatency(ctx, "payment", matched);
  return "done";
}

/** What an operator needs to refund: both payment ids, the order and its amount. */
export function duplicateChargeDetails(p: Payment, dup: DuplicateCharge): string[] {
  const amount = Math.round(dup.price * dup.quantity * 100) / 100;
  return [
    `order ${p.order_id} already holds completed payment ${dup.kept_payment_id}; payment ${p.payment_id} (${p.payment_status}) was recorded, not applied`,
    `order amount ${dup.quantity} x ${dup.price} = ${amount}: refund payment ${p.payment_id} if it was charged`,
  ];
}

export function startPaymentRole(ctx: RoleContext): RunningRole {
  return consumerRole(ctx, "payment", "payment", (batch, signal, ack) => handlePayments(ctx, batch, signal, ack));
}
