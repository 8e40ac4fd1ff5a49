// Order role: orders → validate → upsert the fact row (order columns only).
import type { Order } from "../domain/model.ts";
import type { Delivery, TransactionalAck } from "../transport/types.ts";
import type { RoleContext, RunningRole } from "./context.ts";
import { commit, consumerRole, firstPerKey, observeLatency, splitBatch, storeInTransaction, untilStored, type Valid } from "./consume.ts";

const inboxItem = (v: Valid<Order>) => ({ messageId: v.envelopeId, businessKey: String(v.data.order_id) });

export async function handleOrders(ctx: RoleContext, batch: Delivery[], signal: AbortSignal, ack?: TransactionalAck): Promise<"done" | "stopped"> {
  const { valid, deadLetters, invalid } = splitBatch<Order>(ctx, "order", "order", batch);
  const sameDb = storeInTransaction(ctx);
  let stored: Valid<Order>[];
  let fresh = 0;
  const count = (tx: Parameters<typeof ctx.counters.add>[2]) =>
    ctx.counters.add("order", { received: batch.length, processed: fresh, duplicates: valid.length - fresh, invalid, dead_lettered: deadLetters.length }, tx);
  if (sameDb) {
    // The store is this database: the inbox says which orders are new, those are written, counted and acked in one commit.
    const { first } = firstPerKey(valid, (o) => o.order_id);
    stored = [];
    const committed = await commit(ctx, "order", signal, deadLetters, (tx) => {
      const isNew = ctx.inbox.record("order", first.map(inboxItem), tx);
      stored = first.filter((_, i) => isNew[i]);
      sameDb.upsertOrders(stored.map((v) => v.data));
      fresh = stored.length;
      count(tx);
    }, ack);
    if (!committed) return "stopped";
  } else {
    const seen = ctx.inbox.seen("order", valid.map(inboxItem));
    const { first } = firstPerKey(valid.filter((_, i) => !seen[i]), (o) => o.order_id);
    stored = first;
    if (first.length) {
      const written = await untilStored(ctx, "order", signal, () => ctx.store.upsertOrders(first.map((v) => v.data)));
      if (written === null) return "stopped";
    }
    const committed = await commit(ctx, "order", signal, deadLetters, (tx) => {
      fresh = ctx.inbox.record("order", first.map(inboxItem), tx).filter(Boolean).length;
      count(tx);
    }, ack);
    if (!committed) return "stopped";
  }
  observeLatency(ctx, "order", stored);
  if (fresh < valid.length) ctx.log.debug({ role: "order", duplicates: valid.length - fresh }, "duplicate orders acknowledged");
  return "done";
}

export function startOrderRole(ctx: RoleContext): RunningRole {
  return consumerRole(ctx, "order", "order", (batch, signal, ack) => handleOrders(ctx, batch, signal, ack));
}
