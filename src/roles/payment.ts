// Payment role: payments → validate → set the payment on its order's fact row, or dead-letter as unmatched_order.
import type { Payment } from "../domain/model.ts";
import type { Delivery, TransactionalAck } from "../transport/types.ts";
import type { RoleContext, RunningRole } from "./context.ts";
import { pause } from "./context.ts";
import { commit, consumerRole, deadLetterFor, firstPerKey, observeLatency, splitBatch, untilStored } from "./consume.ts";

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

export async function handlePayments(ctx: RoleContext, batch: Delivery[], signal: AbortSignal, ack?: TransactionalAck): Promise<"done" | "stopped"> {
  const { valid, deadLetters, invalid } = splitBatch<Payment>(ctx, "payment", "payment", batch);
  const seen = ctx.inbox.seen("payment", valid.map((v) => ({ messageId: v.envelopeId, businessKey: String(v.data.payment_id) })));
  const { first } = firstPerKey(valid.filter((_, i) => !seen[i]), (p) => p.payment_id);
  let applied: boolean[] = [];
  if (first.length) {
    const result = await untilStored(ctx, "payment", signal, () => ctx.store.applyPayments(first.map((v) => v.data)));
    if (result === null) return "stopped";
    applied = [...result];
  }
  for (const wait of LOOKS_MS) {
    const missing = first.map((_, i) => i).filter((i) => !applied[i]);
    if (!missing.length) break;
    await pause(wait, signal);
    const again = await untilStored(ctx, "payment", signal, () => ctx.store.applyPayments(missing.map((i) => first[i]!.data)));
    if (again === null) return "stopped";
    missing.forEach((i, k) => (applied[i] = again[k]!));
    if (!again.some(Boolean)) break;
  }
  const matched = first.filter((_, i) => applied[i]);
  const unmatched = first.filter((_, i) => !applied[i]);
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
  const committed = await commit(ctx, "payment", signal, deadLetters, (tx) => {
    const fresh = ctx.inbox.record("payment", matched.map((v) => ({ messageId: v.envelopeId, businessKey: String(v.data.payment_id) })), tx).filter(Boolean).length;
    ctx.counters.add("payment", {
      received: batch.length,
      processed: fresh,
      matched: fresh,
      unmatched: unmatched.length,
      duplicates: valid.length - fresh - unmatched.length,
      invalid,
      dead_lettered: deadLetters.length,
    }, tx);
  }, ack);
  if (!committed) return "stopped";
  observeLatency(ctx, "payment", matched);
  return "done";
}

export function startPaymentRole(ctx: RoleContext): RunningRole {
  return consumerRole(ctx, "payment", "payment", (batch, signal, ack) => handlePayments(ctx, batch, signal, ack));
}
