// Order role: orders → validate → upsert the fact row (order columns only).
import type { Order } from "../domain/model.ts";
import type { Delivery, TransactionalAck } from "../transport/types.ts";
import type { RoleContext, RunningRole } from "./context.ts";
import { commit, consumerRole, firstPerKey, observeLatency, splitBatch, untilStored } from "./consume.ts";

export async function handleOrders(ctx: RoleContext, batch: Delivery[], signal: AbortSignal, ack?: TransactionalAck): Promise<"done" | "stopped"> {
  const { valid, deadLetters, invalid } = splitBatch<Order>(ctx, "order", "order", batch);
  const items = valid.map((v) => ({ messageId: v.envelopeId, businessKey: String(v.data.order_id) }));
  const seen = ctx.inbox.seen("order", items);
  const { first, repeats } = firstPerKey(valid.filter((_, i) => !seen[i]), (o) => o.order_id);
  if (first.length) {
    const stored = await untilStored(ctx, "order", signal, () => ctx.store.upsertOrders(first.map((v) => v.data)));
    if (stored === null) return "stopped";
  }
  let fresh = 0;
  const committed = await commit(ctx, "order", signal, deadLetters, (tx) => {
    fresh = ctx.inbox.record("order", first.map((v) => ({ messageId: v.envelopeId, businessKey: String(v.data.order_id) })), tx).filter(Boolean).length;
    ctx.counters.add("order", {
      received: batch.length,
      processed: fresh,
      duplicates: valid.length - fresh,
      invalid,
      dead_lettered: deadLetters.length,
    }, tx);
  }, ack);
  if (!committed) return "stopped";
  observeLatency(ctx, "order", first);
  if (repeats || fresh < first.length) ctx.log.debug({ role: "order", duplicates: valid.length - fresh }, "duplicate orders acknowledged");
  return "done";
}

export function startOrderRole(ctx: RoleContext): RunningRole {
  return consumerRole(ctx, "order", "order", (batch, signal, ack) => handleOrders(ctx, batch, signal, ack));
}
