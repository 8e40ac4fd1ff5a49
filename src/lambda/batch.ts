// One SQS batch through a role's own handler, answered as a partial batch response once its effects are durable.
import type { DeadLetterInput } from "../domain/model.ts";
import { drainOnce } from "../outbox/relay.ts";
import type { RoleContext } from "../roles/context.ts";
import { pause } from "../roles/context.ts";
import { handleAnalytics } from "../roles/analytics.ts";
import { handleDeadLetters } from "../roles/dlq.ts";
import { handleOrders } from "../roles/order.ts";
import { handlePayments } from "../roles/payment.ts";
import type { Delivery, SubscriptionName } from "../transport/types.ts";

/** Lambda's partial batch response: SQS deletes every record of the batch not listed here. */
export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

type RoleHandler = (ctx: RoleContext, batch: Delivery[], signal: AbortSignal) => Promise<"done" | "stopped">;

/** The very handlers the long-running roles subscribe (src/roles/*). */
const HANDLERS: Record<SubscriptionName, RoleHandler> = {
  order: (ctx, batch, signal) => handleOrders(ctx, batch, signal),
  payment: (ctx, batch, signal) => handlePayments(ctx, batch, signal),
  analytics: (ctx, batch) => handleAnalytics(ctx, batch),
  dlq: (ctx, batch, signal) => handleDeadLetters(ctx, batch, signal),
};

export interface BatchOptions {
  /** Longest a batch waits for an unavailable store before its records are reported as failures. */
  storeWaitMs: number;
}

/** Kept free before the deadline for settling the outbox and posting the response. */
const RESERVE_MS = 1500;
/** Kept free before the deadline for posting the response alone. */
const ANSWER_MS = 300;
/** Records handled apart at once when a whole batch could not be. */
const APART_CONCURRENCY = 32;
const RELAY_LEASE_MS = 30_000;

type Attempt = "done" | "stopped" | "failed";

/**
 * Handles SQS batches for one role. The whole batch goes through the role's handler first (one store round for all
 * its records, as the long-running role does); if that does not finish (the store unavailable until the wait runs
 * out, or an error), each record goes through it alone, so the records whose own effect is durable (a poison record
 * dead-lettered, a duplicate) are done and only the others are reported. Then the invocation's outbox rows (dead
 * letters, alerts) are published, or dead letters written to the store directly, before the answer: the instance's
 * /tmp, and with it the outbox, may not outlive the response. Rows that cannot be settled fail every record of the
 * batch, all of which SQS then redelivers; every effect is idempotent in the store, so that repeats nothing.
 */
export class SqsBatchHandler {
  constructor(
    private readonly ctx: RoleContext,
    readonly role: SubscriptionName,
    private readonly options: BatchOptions,
  ) {}

  async handle(deliveries: Delivery[], deadlineMs: number): Promise<BatchResponse> {
    const { ctx, role } = this;
    const start = Date.now();
    const firstSeq = ctx.outbox.lastSeq();
    const storeUntil = Math.max(start, Math.min(start + this.options.storeWaitMs, deadlineMs - RESERVE_MS));
    let failed: Delivery[] = [];
    if (deliveries.length) {
      const whole = await this.attempt(deliveries, start + (storeUntil - start) / 2);
      if (whole !== "done") {
        const apart = await mapLimit(deliveries, APART_CONCURRENCY, (d) => this.attempt([d], storeUntil));
        failed = deliveries.filter((_, i) => apart[i] !== "done");
      }
    }
    if (!(await this.settleOutbox(firstSeq, deadlineMs - ANSWER_MS))) {
      const msg = "lambda: dead letters or alerts of this batch were neither published nor stored; failing the batch";
      ctx.log.error({ role, records: deliveries.length }, msg);
      failed = deliveries;
    }
    if (failed.length) {
      try {
        ctx.counters.add(role, { failed: failed.length });
      } catch {}
      const counts = { role, records: deliveries.length, failed: failed.length, ms: Date.now() - start };
      ctx.log.warn(counts, "lambda: records not durable, reported as batch item failures");
    }
    return { batchItemFailures: failed.map((d) => ({ itemIdentifier: d.messageId })) };
  }

  /** The role's handler on `batch`, its store back-off cut at `until`. */
  private async attempt(batch: Delivery[], until: number): Promise<Attempt> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(0, until - Date.now()));
    try {
      return await HANDLERS[this.role](this.ctx, batch, abort.signal);
    } catch (error) {
      const err = (error as Error).message;
      this.ctx.log.warn({ role: this.role, err, records: batch.length }, "lambda: handler failed");
      return "failed";
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Publishes the outbox until the rows written after `afterSeq` are gone or `until` passes; dead letters still there
   * then are written to the store directly. True when none of those rows is left.
   */
  private async settleOutbox(afterSeq: number, until: number): Promise<boolean> {
    const { ctx } = this;
    const left = () => ctx.outbox.pendingBetween(afterSeq + 1, Number.MAX_SAFE_INTEGER);
    // Rows of earlier invocations (left when one failed its batch) go out too, at the same time.
    if (ctx.outbox.pendingBetween(0, Number.MAX_SAFE_INTEGER) === 0) return true;
    for (;;) {
      try {
        await drainOnce(ctx.outbox, ctx.transport, ctx.config.relayBatchSize, RELAY_LEASE_MS, ctx.log);
      } catch (error) {
        ctx.log.warn({ err: (error as Error).message }, "lambda: outbox publish step failed");
      }
      if (left() === 0) return true;
      if (Date.now() + 250 >= until - 1000) break;
      await pause(250);
    }
    const rows = ctx.outbox.after(afterSeq).filter((r) => r.topic === "deadletters");
    if (rows.length) {
      try {
        const records = rows.map((r) => (JSON.parse(r.body) as { data: DeadLetterInput }).data);
        const nextRetryAt = new Date(ctx.clock().getTime() + ctx.config.dlqRetryBaseMs).toISOString();
        await ctx.store.putDeadLetters(records, nextRetryAt);
        ctx.outbox.remove(rows.map((r) => r.seq));
        ctx.log.warn({ count: rows.length }, "lambda: dead letters the broker did not take were stored directly");
      } catch (error) {
        const err = (error as Error).message;
        ctx.log.error({ err, count: rows.length }, "lambda: dead letters could not be stored either");
      }
    }
    return left() === 0;
  }
}

/** `fn` over `items`, at most `limit` at once; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
