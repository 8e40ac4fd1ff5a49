// The embedded transport: a durable SQLite queue in the data dir, shared by every ecom process using it.
import { and, asc, eq, inArray, lte, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { localQueue } from "../db/schema.ts";
import type { Logger } from "../log.ts";
import {
  TOPIC_OF_SUBSCRIPTION,
  TransportError,
  type BatchHandler,
  type Delivery,
  type OutgoingMessage,
  type ProvisionStep,
  type PublishResult,
  type SubscribeOptions,
  type Subscriber,
  type SubscriptionName,
  type TopicName,
  type Transport,
} from "./types.ts";

export interface LocalTransportOptions {
  maxAttempts: number;
  visibilityTimeoutMs: number;
  /** How often an idle subscriber looks for messages published by other processes. */
  pollMs?: number;
  /** Extra subscriptions per topic (e.g. a test listening on `alerts`). */
  extraSubscriptions?: Partial<Record<TopicName, string[]>>;
  now?: () => number;
  logger?: Logger;
}

const DEAD_LETTER_SOURCE = "dead_letter_source";

interface Claimed {
  seq: number;
  delivery: Delivery;
}

export function createLocalTransport(db: Db, options: LocalTransportOptions): Transport {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 50;
  const fanout = new Map<TopicName, string[]>();
  for (const [sub, topic] of Object.entries(TOPIC_OF_SUBSCRIPTION)) fanout.set(topic, [...(fanout.get(topic) ?? []), sub]);
  for (const [topic, subs] of Object.entries(options.extraSubscriptions ?? {})) fanout.set(topic as TopicName, [...(fanout.get(topic as TopicName) ?? []), ...subs!]);
  const waiters = new Map<string, Set<() => void>>();
  const subscribers = new Set<Subscriber>();
  let closed = false;

  const wakeAll = (subscription: string) => {
    for (const wake of waiters.get(subscription) ?? []) wake();
  };

  function publish(messages: OutgoingMessage[]): Promise<PublishResult> {
    if (closed) return Promise.resolve({ failed: messages.map((m) => ({ id: m.id, error: new TransportError("local transport is closed", true) })) });
    const at = now();
    const rows = messages.flatMap((m) =>
      (fanout.get(m.topic) ?? []).map((subscription) => ({
        subscription,
        messageId: m.id,
        body: m.body,
        attributes: m.attributes ? JSON.stringify(m.attributes) : null,
        visibleAt: at,
        enqueuedAt: at,
      })),
    );
    try {
      db.transaction((tx) => {
        for (let i = 0; i < rows.length; i += 500) tx.insert(localQueue).values(rows.slice(i, i + 500)).run();
      }, { behavior: "immediate" });
    } catch (error) {
      const err = new TransportError(`local queue write failed: ${(error as Error).message}`, true, { cause: error, messageIds: messages.map((m) => m.id) });
      return Promise.resolve({ failed: messages.map((m) => ({ id: m.id, error: err })) });
    }
    for (const sub of new Set(rows.map((r) => r.subscription))) wakeAll(sub);
    return Promise.resolve({ failed: [] });
  }

  /** Claims visible messages; those past max attempts move to the dlq subscription in the same transaction. */
  function claim(subscription: SubscriptionName, limit: number): Claimed[] {
    const at = now();
    const { claimed, movedToDlq } = db.transaction((tx) => {
      const seqs = tx
        .select({ seq: localQueue.seq })
        .from(localQueue)
        .where(and(eq(localQueue.subscription, subscription), lte(localQueue.visibleAt, at)))
        .orderBy(asc(localQueue.seq))
        .limit(limit)
        .all()
        .map((r) => r.seq);
      if (seqs.length === 0) return { claimed: [], movedToDlq: 0 };
      const rows = tx
        .update(localQueue)
        .set({ visibleAt: at + options.visibilityTimeoutMs, attempts: sql`${localQueue.attempts} + 1` })
        .where(inArray(localQueue.seq, seqs))
        .returning()
        .all();
      const exhausted = subscription === "dlq" ? [] : rows.filter((r) => r.attempts > options.maxAttempts);
      if (exhausted.length) {
        tx.insert(localQueue)
          .values(
            exhausted.map((r) => ({
              subscription: "dlq",
              messageId: r.messageId,
              body: r.body,
              attributes: JSON.stringify({ ...(r.attributes ? JSON.parse(r.attributes) : {}), [DEAD_LETTER_SOURCE]: subscription }),
              visibleAt: at,
              enqueuedAt: at,
            })),
          )
          .run();
        tx.delete(localQueue).where(inArray(localQueue.seq, exhausted.map((r) => r.seq))).run();
      }
      const gone = new Set(exhausted.map((r) => r.seq));
      return { claimed: rows.filter((r) => !gone.has(r.seq)).sort((a, b) => a.seq - b.seq), movedToDlq: exhausted.length };
    }, { behavior: "immediate" });
    if (movedToDlq) {
      options.logger?.warn({ subscription, moved: movedToDlq }, "messages exceeded max attempts; moved to dlq");
      wakeAll("dlq");
    }
    return claimed.map((r) => {
      const attributes = r.attributes ? (JSON.parse(r.attributes) as Record<string, string>) : {};
      const source = attributes[DEAD_LETTER_SOURCE] as SubscriptionName | undefined;
      const delivery: Delivery = { messageId: r.messageId, body: r.body, attributes, attempt: r.attempts };
      if (subscription === "dlq" && source) delivery.deadLetterSource = source;
      return { seq: r.seq, delivery };
    });
  }

  function settle(batch: Claimed[], outcomes: { kind: string; delayMs?: number }[]): void {
    const acked: number[] = [];
    const retried: { seq: number; at: number }[] = [];
    const at = now();
    batch.forEach((c, i) => {
      const o = outcomes[i];
      if (o?.kind === "ack") acked.push(c.seq);
      else retried.push({ seq: c.seq, at: at + (o?.delayMs ?? 0) });
    });
    db.transaction((tx) => {
      for (let i = 0; i < acked.length; i += 500) tx.delete(localQueue).where(inArray(localQueue.seq, acked.slice(i, i + 500))).run();
      for (const r of retried) tx.update(localQueue).set({ visibleAt: r.at }).where(eq(localQueue.seq, r.seq)).run();
    }, { behavior: "immediate" });
  }

  /** Keeps the claimed rows invisible while the handler runs. */
  function extend(batch: Claimed[]): void {
    const seqs = batch.map((c) => c.seq);
    for (let i = 0; i < seqs.length; i += 500) {
      db.update(localQueue).set({ visibleAt: now() + options.visibilityTimeoutMs }).where(inArray(localQueue.seq, seqs.slice(i, i + 500))).run();
    }
  }

  function subscribe(subscription: SubscriptionName, handler: BatchHandler, opts: SubscribeOptions): Subscriber {
    let running = true;
    let wake: (() => void) | null = null;
    const set = waiters.get(subscription) ?? new Set();
    waiters.set(subscription, set);
    const onWake = () => wake?.();
    set.add(onWake);

    const worker = async () => {
      let failures = 0;
      while (running) {
        let batch: Claimed[] = [];
        try {
          batch = claim(subscription, opts.maxBatch);
          failures = 0;
        } catch (error) {
          failures++;
          options.logger?.error({ err: error, subscription }, "local queue claim failed; backing off");
        }
        if (batch.length === 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, failures ? Math.min(5000, 100 * 2 ** failures) : pollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
          continue;
        }
        const keepAlive = setInterval(() => {
          try {
            extend(batch);
          } catch (error) {
            options.logger?.warn({ err: error, subscription }, "local queue lease extension failed");
          }
        }, Math.max(50, options.visibilityTimeoutMs / 3));
        let outcomes: { kind: string; delayMs?: number }[];
        try {
          outcomes = await handler(batch.map((c) => c.delivery));
        } catch (error) {
          options.logger?.error({ err: error, subscription }, "handler threw; messages will be redelivered");
          outcomes = batch.map(() => ({ kind: "retry" }));
        } finally {
          clearInterval(keepAlive);
        }
        try {
          settle(batch, outcomes);
        } catch (error) {
          // The rows stay claimed and come back after the visibility timeout: at-least-once holds.
          options.logger?.error({ err: error, subscription }, "local queue ack failed");
        }
      }
    };
    const workers = Array.from({ length: opts.concurrency ?? 1 }, worker);
    const done = Promise.all(workers);
    const subscriber: Subscriber = {
      subscription,
      async close() {
        running = false;
        wake?.();
        set.delete(onWake);
        await done;
        subscribers.delete(subscriber);
      },
    };
    subscribers.add(subscriber);
    return subscriber;
  }

  return {
    kind: "local",
    publish,
    subscribe,
    async ping() {
      db.get(sql`SELECT 1`);
    },
    async provision(): Promise<ProvisionStep[]> {
      return [...fanout.entries()].map(([topic, subs]) => ({ resource: `local topic ${topic} -> ${subs.join(", ") || "(no subscribers)"}`, action: "exists" as const }));
    },
    async teardown(): Promise<ProvisionStep[]> {
      db.delete(localQueue).run();
      return [{ resource: "local queue", action: "deleted" }];
    },
    async close() {
      closed = true;
      await Promise.all([...subscribers].map((s) => s.close()));
    },
  };
}

/** Messages waiting per subscription (for /status and tests). */
export function localQueueDepth(db: Db): Record<string, number> {
  const rows = db.select({ subscription: localQueue.subscription, n: sql<number>`count(*)` }).from(localQueue).groupBy(localQueue.subscription).all();
  return Object.fromEntries(rows.map((r) => [r.subscription, r.n]));
}
