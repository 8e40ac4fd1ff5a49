// Producer role: the seeded mock stream, written to the outbox in the same transaction as its position.
import { eq } from "drizzle-orm";
import { whenWritable } from "../db/busy.ts";
import { producerState } from "../db/schema.ts";
import { envelope } from "../domain/envelope.ts";
import { isDuplicated, streamAt, type GeneratorOptions } from "../domain/generator.ts";
import type { OutgoingMessage } from "../transport/types.ts";
import { pause, type RoleContext, type RunningRole } from "./context.ts";

export interface ProducerProgress {
  /** Called with the stream position after each write. */
  onProgress?: (position: number) => void;
}

/** Backpressure: the producer waits while this many rows are unsent. */
const MAX_PENDING = 50_000;

export function streamName(ctx: RoleContext): string {
  const p = ctx.config.producer;
  return `seed=${p.seed};orders=${p.orders ?? "inf"};payments=${p.payments ?? "inf"};unmatched=${p.unmatchedRatio};duplicates=${p.duplicateRatio}`;
}

export function startProducerRole(ctx: RoleContext, progress?: ProducerProgress): RunningRole {
  const p = ctx.config.producer;
  const opts: GeneratorOptions = { seed: p.seed, unmatchedRatio: p.unmatchedRatio, duplicateRatio: p.duplicateRatio };
  const stream = streamName(ctx);
  const abort = new AbortController();
  // At rate 0 write big batches; otherwise spread messages over 20 ticks a second.
  const perTick = p.rate === 0 ? 1000 : Math.max(1, Math.round(p.rate / 20));
  const tickMs = p.rate === 0 ? 0 : (perTick / p.rate) * 1000;

  /** Writes the next `n` stream positions and the new position in one transaction; returns the new position, or null at the end. */
  function step(n: number): number | null {
    return ctx.db.transaction((tx) => {
      const state = tx.select().from(producerState).where(eq(producerState.stream, stream)).get();
      let next = state?.nextIndex ?? 0;
      const messages: OutgoingMessage[] = [];
      let orders = 0;
      let payments = 0;
      let copies = 0;
      const now = ctx.clock().toISOString();
      for (let k = 0; k < n; k++) {
        const record = streamAt(opts, next, p.orders, p.payments);
        if (!record) break;
        const key = String(record.type === "order" ? record.data.order_id : record.data.payment_id);
        const env = envelope(record.type, record.data, now);
        const msg: OutgoingMessage = { id: env.id, topic: record.type === "order" ? "orders" : "payments", body: JSON.stringify(env), orderingKey: String(record.data.order_id), attributes: { type: record.type, key } };
        messages.push(msg);
        if (isDuplicated(opts, next)) {
          // A retrying producer: the same record again under a new message id.
          const again = envelope(record.type, record.data, now);
          messages.push({ ...msg, id: again.id, body: JSON.stringify(again) });
          copies++;
        }
        if (record.type === "order") orders++;
        else payments++;
        next++;
      }
      if (messages.length === 0) return null;
      ctx.outbox.add(messages, tx);
      tx.insert(producerState)
        .values({ stream, nextIndex: next, orders: (state?.orders ?? 0) + orders, payments: (state?.payments ?? 0) + payments })
        .onConflictDoUpdate({ target: producerState.stream, set: { nextIndex: next, orders: (state?.orders ?? 0) + orders, payments: (state?.payments ?? 0) + payments } })
        .run();
      ctx.counters.add("producer", { orders, payments, duplicates: copies, processed: orders + payments }, tx);
      return next;
    }, { behavior: "immediate" });
  }

  const done = (async () => {
    let nextTick = Date.now();
    while (!abort.signal.aborted) {
      if (ctx.outbox.pending() > MAX_PENDING) {
        await pause(20, abort.signal);
        continue;
      }
      let position: number | null;
      try {
        position = await whenWritable(() => step(perTick), abort.signal, { storage: "wait" });
      } catch (error) {
        ctx.log.error({ role: "producer", err: error }, "producer write failed; retrying");
        await pause(500, abort.signal);
        continue;
      }
      ctx.outbox.notify();
      if (position === null) {
        ctx.log.info({ role: "producer", stream }, "producer reached its caps");
        break;
      }
      progress?.onProgress?.(position);
      if (tickMs > 0) {
        nextTick += tickMs;
        await pause(Math.max(0, nextTick - Date.now()), abort.signal);
      } else {
        await new Promise((r) => setImmediate(r));
      }
    }
  })();
  return {
    name: "producer",
    done,
    async stop() {
      abort.abort();
      await done;
    },
  };
}

/** Total stream length for capped runs (orders + payments), or null when uncapped. */
export function streamLength(ctx: RoleContext): number | null {
  const p = ctx.config.producer;
  return p.orders !== null && p.payments !== null ? p.orders + p.payments : null;
}
