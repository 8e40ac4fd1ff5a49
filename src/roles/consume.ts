// The shared consumer skeleton: parse, dedupe, apply with store back-off, record, dead-letter, ack.
import { whenWritable } from "../db/busy.ts";
import type { Db } from "../db/open.ts";
import type { DeadLetterInput, Order, Payment } from "../domain/model.ts";
import { deadLetterId, maskBody, parseMessage, type Parsed } from "../domain/validate.ts";
import { StoreError, type Store } from "../store/types.ts";
import { messageBytes, type Delivery, type Outcome, type Subscriber, type SubscriptionName, type TopicName, type TransactionalAck } from "../transport/types.ts";
import { TOPIC_OF_SUBSCRIPTION } from "../transport/types.ts";
import { deadLetterMessage, pause, type RoleContext, type RunningRole } from "./context.ts";

export type Valid<T> = { delivery: Delivery; data: T; envelopeId: string | null; producedAt: string | null };

/** A dead-letter input for a delivery, card data masked. */
export function deadLetterFor(
  ctx: RoleContext,
  subscription: SubscriptionName,
  delivery: Delivery,
  reason: DeadLetterInput["reason"],
  details: unknown,
  meta: { type: string | null; businessKey: string | null; envelopeId: string | null; topic?: TopicName | string },
): DeadLetterInput {
  return {
    id: deadLetterId(reason, meta.type, meta.businessKey, delivery.body),
    reason,
    details,
    original: maskBody(delivery.body),
    topic: meta.topic ?? TOPIC_OF_SUBSCRIPTION[subscription],
    subscription,
    message_id: meta.envelopeId ?? delivery.messageId,
    type: meta.type,
    business_key: meta.businessKey,
    seen_at: ctx.clock().toISOString(),
  };
}

/**
 * Runs `fn` until it succeeds; a retryable StoreError backs off (up to 5 s) and tries again while the role runs,
 * so an unavailable store holds messages unacked instead of burning their delivery attempts.
 * Returns null when the role stopped first.
 */
export async function untilStored<T>(ctx: RoleContext, role: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T | null> {
  for (let attempt = 0; ; attempt++) {
    if (signal.aborted) return null;
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof StoreError) || !error.retryable) throw error;
      const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
      if (attempt === 0 || attempt % 10 === 0) ctx.log.warn({ role, err: error.message, retry_in_ms: delay, attempt }, "store unavailable; holding messages and backing off");
      await pause(delay, signal);
    }
  }
}

/** The store's synchronous writes when it lives on this role's own SQLite connection (see Store.inTransaction). */
export function storeInTransaction(ctx: RoleContext): Store["inTransaction"] {
  const writes = ctx.store.inTransaction;
  return writes?.handle === ctx.handle ? writes : undefined;
}

export interface Split<T> {
  valid: Valid<T>[];
  deadLetters: DeadLetterInput[];
  invalid: number;
}

/**
 * Recent parse results by body. A topic with two subscriptions in one process (orders: the order and the analytics
 * role) hands both the same bodies within a few batches; the second parse and validation (~3 us) becomes a lookup.
 * Results are never mutated; entries leave in insertion order past the capacity.
 */
export class ParseCache {
  private readonly entries = new Map<string, { maxBytes: number; parsed: Parsed }>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity: number) {}

  parse(body: string, maxBytes: number): Parsed {
    const hit = this.entries.get(body);
    if (hit && hit.maxBytes === maxBytes) {
      this.hits++;
      return hit.parsed;
    }
    this.misses++;
    const parsed = parseMessage(body, maxBytes);
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(body, { maxBytes, parsed });
    return parsed;
  }
}

const parseCache = new ParseCache(2048);

/** Parses a batch; anything that is not a valid `want` record becomes a dead letter with its reason. */
export function splitBatch<T extends Order | Payment>(ctx: RoleContext, subscription: SubscriptionName, want: "order" | "payment", batch: Delivery[]): Split<T> {
  const out: Split<T> = { valid: [], deadLetters: [], invalid: 0 };
  for (const delivery of batch) {
    const parsed: Parsed = parseCache.parse(delivery.body, ctx.config.maxMessageBytes);
    if (parsed.ok && parsed.type === want) {
      out.valid.push({ delivery, data: parsed.data as T, envelopeId: parsed.envelopeId, producedAt: parsed.producedAt });
      continue;
    }
    out.invalid++;
    const dl = parsed.ok
      ? deadLetterFor(ctx, subscription, delivery, "invalid", [`type: a ${parsed.type} on the ${TOPIC_OF_SUBSCRIPTION[subscription]} topic; expected ${want}`], {
          type: parsed.type,
          businessKey: String(parsed.type === "order" ? (parsed.data as Order).order_id : (parsed.data as Payment).payment_id),
          envelopeId: parsed.envelopeId,
        })
      : deadLetterFor(ctx, subscription, delivery, parsed.reason, parsed.errors, { type: parsed.type, businessKey: parsed.businessKey, envelopeId: parsed.envelopeId });
    out.deadLetters.push(dl);
  }
  return out;
}

/** Marks later copies of the same business key within one batch as duplicates (first one wins). */
export function firstPerKey<T>(items: Valid<T>[], key: (data: T) => number): { first: Valid<T>[]; repeats: number } {
  const seen = new Set<number>();
  const first: Valid<T>[] = [];
  for (const item of items) {
    const k = key(item.data);
    if (seen.has(k)) continue;
    seen.add(k);
    first.push(item);
  }
  return { first, repeats: items.length - first.length };
}

/**
 * Writes dead letters (and any extra work) in one SQLite transaction, then wakes the relay. With `ack` (the local
 * queue) the batch is acked in the same transaction. A dead letter whose message would not fit the broker whole (SNS
 * takes 256 KiB, and the original rides inside the envelope as an escaped JSON string, so a body near the limit grows
 * past it) is written straight to the store first, whole, as the dlq role would have written it. False when the role
 * stopped while the store was away (nothing committed).
 */
export async function commit(
  ctx: RoleContext,
  role: string,
  signal: AbortSignal,
  deadLetters: DeadLetterInput[],
  work: (tx: Db) => void,
  ack?: TransactionalAck,
): Promise<boolean> {
  const now = ctx.clock();
  const limit = ctx.transport.maxMessageBytes;
  const messages = deadLetters.map((d) => deadLetterMessage(d, now));
  const fits = messages.map((m) => limit === undefined || messageBytes(m) <= limit);
  const oversize = deadLetters.filter((_, i) => !fits[i]);
  if (oversize.length) {
    const nextRetryAt = new Date(now.getTime() + ctx.config.dlqRetryBaseMs).toISOString();
    if ((await untilStored(ctx, role, signal, () => ctx.store.putDeadLetters(oversize, nextRetryAt))) === null) return false;
    for (const d of oversize) {
      ctx.log.info({ role, id: d.id, reason: d.reason, bytes: Buffer.byteLength(d.original), limit }, "dead letter too large for the broker: stored directly, whole");
    }
  }
  // Bad input arriving is worth a line (unmatched payments are routine: counted, not logged).
  const bad = deadLetters.filter((d) => d.reason === "invalid" || d.reason === "malformed");
  if (bad.length) ctx.log.warn({ role, count: bad.length, ids: bad.slice(0, 5).map((d) => d.id) }, "bad messages dead-lettered");
  await whenWritable(() => ctx.db.transaction((tx) => {
    work(tx);
    ctx.outbox.add(messages.filter((_, i) => fits[i]), tx);
    ack?.ackInTransaction();
  }, { behavior: "immediate" }), signal, { storage: "wait" });
  ctx.outbox.notify();
  return true;
}

/** Observes produce→store latency for records that carried produced_at. */
export function observeLatency(ctx: RoleContext, role: string, items: { producedAt: string | null }[]): void {
  const now = ctx.clock().getTime();
  // A producer stamps a whole batch with one produced_at: parse each distinct value once.
  let lastText = "";
  let last = NaN;
  for (const item of items) {
    if (!item.producedAt) continue;
    if (item.producedAt !== lastText) {
      lastText = item.producedAt;
      last = Date.parse(lastText);
    }
    if (Number.isFinite(last)) ctx.metrics.observeLatency(role, Math.max(0, now - last));
  }
}

/** Subscribes a batch handler as a role; outcome is ack for the batch unless the role stopped mid-way. */
export function consumerRole(
  ctx: RoleContext,
  role: string,
  subscription: SubscriptionName,
  handle: (batch: Delivery[], signal: AbortSignal, ack?: TransactionalAck) => Promise<"done" | "stopped">,
): RunningRole {
  const abort = new AbortController();
  const handler = async (batch: Delivery[], ack?: TransactionalAck): Promise<Outcome[]> => {
    try {
      const result = await handle(batch, abort.signal, ack);
      if (result === "stopped") return batch.map(() => ({ kind: "retry" }));
      ctx.metrics.messages.inc({ role, outcome: "acked" }, batch.length);
      return batch.map(() => ({ kind: "ack" }));
    } catch (error) {
      ctx.log.error({ role, err: error, batch: batch.length }, "batch failed; messages will be redelivered");
      try {
        ctx.counters.add(role, { failed: batch.length });
      } catch {}
      ctx.metrics.messages.inc({ role, outcome: "failed" }, batch.length);
      return batch.map(() => ({ kind: "retry", delayMs: 1000 }));
    }
  };
  const subscriber: Subscriber = ctx.transport.subscribe(subscription, handler, { maxBatch: ctx.config.batchSize });
  let stopped: Promise<void> | null = null;
  return {
    name: role,
    stop() {
      stopped ??= (async () => {
        // Let in-flight batches finish (close waits); abort only the store back-off of a batch that cannot.
        const grace = setTimeout(() => abort.abort(), Math.max(100, ctx.config.shutdownGraceMs - 1000));
        await subscriber.close();
        clearTimeout(grace);
      })();
      return stopped;
    },
  };
}
