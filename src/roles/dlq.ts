// DLQ role: dead letters → durable records; unmatched payments retried with back-off; replay and discard.
import { z } from "zod";
import { whenWritable } from "../db/busy.ts";
import { DEAD_LETTER_REASONS, type DeadLetterInput, type DeadLetterRecord, type Payment } from "../domain/model.ts";
import { parseMessage, type Parsed } from "../domain/validate.ts";
import { randomUUID } from "node:crypto";
import { messageBytes, type Delivery, type OutgoingMessage, type SubscriptionName, type TopicName } from "../transport/types.ts";
import { TOPIC_OF_SUBSCRIPTION } from "../transport/types.ts";
import { pause, type RoleContext, type RunningRole } from "./context.ts";
import { consumerRole, deadLetterFor, untilStored } from "./consume.ts";
import { Lease } from "../db/lease.ts";
import { isDuplicateCharge } from "../store/types.ts";
import { duplicateChargeDetails } from "./payment.ts";

/**
 * One reconciler per data dir: processes sharing it would otherwise read the same due records and apply each twice
 * (idempotent in the store, but counted as duplicates and twice the store's work). A holder that dies is replaced
 * within this long.
 */
export const RECONCILE_LEASE_MS = 10_000;

const deadLetterEnvelope = z.object({
  type: z.literal("dead_letter"),
  data: z.object({
    id: z.string().min(1).max(300),
    reason: z.enum(DEAD_LETTER_REASONS as [string, ...string[]]),
    details: z.unknown(),
    original: z.string(),
    topic: z.string(),
    subscription: z.string(),
    message_id: z.string(),
    type: z.string().nullable(),
    business_key: z.string().nullable(),
    seen_at: z.string(),
  }),
});

/** Exponential back-off for unmatched payments: base * 2^(attempts-1), capped. */
export function retryDelay(ctx: RoleContext, attempts: number): number {
  return Math.min(ctx.config.dlqRetryMaxMs, ctx.config.dlqRetryBaseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
}

/** One delivery on the dlq subscription → the record it stands for. */
function toRecord(ctx: RoleContext, d: Delivery): { record: DeadLetterInput; invalid: boolean } {
  if (d.deadLetterSource) {
    // The broker gave up on it after max attempts: the body is the original message.
    const parsed: Parsed = parseMessage(d.body, Number.MAX_SAFE_INTEGER);
    const type = parsed.ok ? parsed.type : parsed.type;
    const key = parsed.ok ? String(parsed.type === "order" ? parsed.data.order_id : (parsed.data as Payment).payment_id) : parsed.businessKey;
    const source: SubscriptionName = d.deadLetterSource;
    return {
      record: deadLetterFor(ctx, source, d, "max_attempts", [`delivery failed ${d.attempt > 1 ? d.attempt : "too many"} times on ${source}; the broker dead-lettered it`], {
        type,
        businessKey: key,
        envelopeId: parsed.ok ? parsed.envelopeId : parsed.envelopeId,
        topic: TOPIC_OF_SUBSCRIPTION[source],
      }),
      invalid: false,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(d.body);
  } catch {}
  const env = deadLetterEnvelope.safeParse(value);
  if (env.success) return { record: env.data.data as DeadLetterInput, invalid: false };
  // Something that is not a dead-letter envelope was published on the dead-letter topic: keep it, as malformed.
  return {
    record: deadLetterFor(ctx, "dlq", d, "malformed", ["not a dead-letter envelope", ...(env.error?.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`) ?? [])], {
      type: null,
      businessKey: null,
      envelopeId: null,
      topic: "deadletters",
    }),
    invalid: true,
  };
}

export async function handleDeadLetters(ctx: RoleContext, batch: Delivery[], signal: AbortSignal): Promise<"done" | "stopped"> {
  const records = batch.map((d) => toRecord(ctx, d));
  const nextRetryAt = new Date(ctx.clock().getTime() + ctx.config.dlqRetryBaseMs).toISOString();
  const stored = await untilStored(ctx, "dlq", signal, () => ctx.store.putDeadLetters(records.map((r) => r.record), nextRetryAt));
  if (stored === null) return "stopped";
  const counts = { received: batch.length, processed: batch.length, invalid: records.filter((r) => r.invalid).length, dead_lettered: batch.length };
  await whenWritable(() => ctx.counters.add("dlq", counts));
  return "done";
}

/**
 * One reconciliation pass: applies due unmatched payments whose order now exists (marks them reconciled),
 * reschedules the rest with back-off. Returns how many were reconciled.
 */
export async function reconcileOnce(ctx: RoleContext, limit = 500, lease?: Lease): Promise<number> {
  const now = ctx.clock();
  const due = await ctx.store.dueDeadLetters("unmatched_order", now.toISOString(), limit);
  if (due.length === 0) return 0;
  // The read may have outlasted the lease (a slow store): another process may hold it and read the same records now.
  if (lease && !(await whenWritable(() => lease.hold(RECONCILE_LEASE_MS)))) return 0;
  const parsed = due.map((r) => ({ record: r, parsed: parseMessage(r.original, Number.MAX_SAFE_INTEGER) }));
  const payments = parsed.filter((p): p is { record: DeadLetterRecord; parsed: Extract<Parsed, { ok: true; type: "payment" }> } => p.parsed.ok && p.parsed.type === "payment");
  const unusable = parsed.filter((p) => !(p.parsed.ok && p.parsed.type === "payment"));
  const items = payments.map((p) => ({ messageId: p.parsed.envelopeId, businessKey: String(p.parsed.data.payment_id) }));
  const already = ctx.inbox.seen("payment", items);
  const toApply = payments.filter((_, i) => !already[i]);
  const outcomes = await ctx.store.applyPayments(toApply.map((p) => p.parsed.data));
  const settled = toApply.map((p, i) => ({ ...p, outcome: outcomes[i]! })).filter((p) => p.outcome !== "unmatched");
  const stillMissing = toApply.filter((_, i) => outcomes[i] === "unmatched");
  // Its order arrived holding another completed payment: the record is settled, and a duplicate_charge one replaces it.
  const charges = settled.flatMap(({ record: r, parsed, outcome }) =>
    isDuplicateCharge(outcome)
      ? [{
          id: `duplicate_charge.payment.${parsed.data.payment_id}`, reason: "duplicate_charge" as const,
          details: duplicateChargeDetails(parsed.data, outcome), original: r.original, topic: r.topic, subscription: r.subscription,
          message_id: r.message_id, type: "payment", business_key: String(parsed.data.payment_id), seen_at: now.toISOString(),
        }]
      : [],
  );
  if (charges.length) await ctx.store.putDeadLetters(charges, null);
  let fresh = 0;
  await whenWritable(() => ctx.db.transaction((tx) => {
    const isNew = ctx.inbox.record("payment", settled.map((p) => ({ messageId: p.parsed.envelopeId, businessKey: String(p.parsed.data.payment_id) })), tx);
    const freshCharges = settled.filter((p, i) => isNew[i] && isDuplicateCharge(p.outcome)).length;
    fresh = isNew.filter(Boolean).length - freshCharges;
    const duplicates = settled.length - isNew.filter(Boolean).length + payments.filter((_, i) => already[i]).length;
    ctx.counters.add("dlq", { reconciled: fresh, duplicates, ...(freshCharges ? { dead_lettered: freshCharges } : {}) }, tx);
  }, { behavior: "immediate" }));
  const updates = [
    ...settled.map((p) => ({ id: p.record.id, status: "reconciled" as const, next_retry_at: null })),
    ...payments.filter((_, i) => already[i]).map((p) => ({ id: p.record.id, status: "reconciled" as const, next_retry_at: null })),
    ...stillMissing.map((p) => ({
      id: p.record.id,
      attempts: p.record.attempts + 1,
      next_retry_at: new Date(now.getTime() + retryDelay(ctx, p.record.attempts + 1)).toISOString(),
    })),
    // An original that no longer parses as a payment cannot be retried: leave it pending for an operator.
    ...unusable.map((p) => ({ id: p.record.id, next_retry_at: null })),
  ];
  await ctx.store.updateDeadLetters(updates);
  return fresh;
}

export function startDlqRole(ctx: RoleContext): RunningRole {
  const consumer = consumerRole(ctx, "dlq", "dlq", (batch, signal) => handleDeadLetters(ctx, batch, signal));
  const abort = new AbortController();
  const lease = new Lease(ctx.handle, "reconciler");
  const loop = (async () => {
    let failures = 0;
    let holder = false;
    while (!abort.signal.aborted) {
      let reconciled = 0;
      try {
        if (!(await whenWritable(() => lease.hold(RECONCILE_LEASE_MS), abort.signal))) {
          if (holder) ctx.log.warn({ role: "dlq" }, "reconciler lease lost to another process on this data dir");
          holder = false;
          failures = 0;
          await pause(RECONCILE_LEASE_MS / 4, abort.signal);
          continue;
        }
        if (!holder) ctx.log.info({ role: "dlq", owner: lease.owner }, "reconciler lease taken: this process reconciles the data dir's dead letters");
        holder = true;
        reconciled = await reconcileOnce(ctx, 500, lease);
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1 || failures % 20 === 0) ctx.log.warn({ role: "dlq", err: (error as Error).message }, "reconciliation pass failed; backing off");
      }
      if (reconciled === 0) await pause(failures ? Math.min(5000, 200 * 2 ** Math.min(failures, 5)) : 200, abort.signal);
    }
  })();
  return {
    name: "dlq",
    async stop() {
      abort.abort();
      await Promise.all([consumer.stop(), loop]);
      try {
        await whenWritable(() => lease.release());
      } catch (error) {
        ctx.log.warn({ role: "dlq", err: (error as Error).message }, "reconciler lease not released; it lapses by itself");
      }
    },
  };
}

export interface ReplayResult {
  replayed: { id: string; topic: string; message_id: string }[];
  skipped: { id: string; reason: string }[];
}

/** Re-publishes the originals of records through the outbox to their topics and marks them replayed. */
export async function replay(ctx: RoleContext, records: DeadLetterRecord[]): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], skipped: [] };
  const topics: readonly string[] = ["orders", "payments", "deadletters", "alerts"];
  const messages: OutgoingMessage[] = [];
  const limit = ctx.transport.maxMessageBytes ?? Infinity;
  for (const r of records) {
    if (!topics.includes(r.topic) || r.topic === "deadletters") {
      result.skipped.push({ id: r.id, reason: `topic ${r.topic} cannot be replayed` });
      continue;
    }
    const id = randomUUID();
    const message: OutgoingMessage = { id, topic: r.topic as TopicName, body: r.original, attributes: { replay_of: r.id } };
    // The broker would refuse it on every try, holding it in the outbox for good.
    if (messageBytes(message) > limit) {
      result.skipped.push({ id: r.id, reason: `the original is ${Buffer.byteLength(r.original)} bytes; the ${ctx.transport.kind} broker takes messages of at most ${limit}` });
      continue;
    }
    messages.push(message);
    result.replayed.push({ id: r.id, topic: r.topic, message_id: id });
  }
  // Status first: if the replayed message fails again, its new dead letter sets the record back to pending.
  await ctx.store.updateDeadLetters(result.replayed.map((r) => ({ id: r.id, status: "replayed" as const, next_retry_at: null })));
  await whenWritable(() => ctx.db.transaction((tx) => {
    ctx.outbox.add(messages, tx);
    ctx.counters.add("dlq", { replayed: messages.length }, tx);
  }, { behavior: "immediate" }));
  ctx.outbox.notify();
  return result;
}
