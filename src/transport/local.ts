// The embedded transport: a durable SQLite queue in the data dir, shared by every ecom process using it.
import { sql } from "drizzle-orm";
import type { DbHandle } from "../db/open.ts";
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

const SQL = {
  insertMessage: "INSERT INTO local_messages (message_id, body, attributes) VALUES (?, ?, ?)",
  insertDelivery: "INSERT INTO local_deliveries (subscription, message_seq, visible_at, dead_letter_source) VALUES (?, ?, ?, ?)",
  // Pick visible deliveries with their bodies in one read, then lease them row by row.
  pick: `SELECT d.seq AS seq, d.attempts AS attempts, d.dead_letter_source AS dead_letter_source,
      m.message_id AS message_id, m.body AS body, m.attributes AS attributes
    FROM local_deliveries d JOIN local_messages m ON m.seq = d.message_seq
    WHERE d.subscription = ? AND d.visible_at <= ? ORDER BY d.seq LIMIT ?`,
  lease: "UPDATE local_deliveries SET visible_at = ?, attempts = attempts + 1 WHERE seq = ?",
  ack: "DELETE FROM local_deliveries WHERE seq = ?",
  retry: "UPDATE local_deliveries SET visible_at = ? WHERE seq = ?",
  extend: "UPDATE local_deliveries SET visible_at = ? WHERE seq = ?",
  toDlq: "UPDATE local_deliveries SET subscription = 'dlq', dead_letter_source = ?, attempts = 0, visible_at = ? WHERE seq = ?",
  // Messages below the oldest one still referenced are done: drop their bodies.
  gc: `DELETE FROM local_messages WHERE seq < coalesce((SELECT min(message_seq) FROM local_deliveries), (SELECT max(seq) + 1 FROM local_messages))`,
};

interface Claimed {
  seq: number;
  delivery: Delivery;
}

/**
 * A message is stored once (`local_messages`) with one small delivery row per subscription of its topic
 * (`local_deliveries`): claiming, acking and redelivering touch only those. Claims set a visibility timeout;
 * a process that dies leaves its claims to expire and be redelivered. After max attempts the delivery is moved
 * to the dlq subscription with its source. Every statement is prepared once and bound per row.
 */
export function createLocalTransport(handle: DbHandle, options: LocalTransportOptions): Transport {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 50;
  const fanout = new Map<TopicName, string[]>();
  for (const [sub, topic] of Object.entries(TOPIC_OF_SUBSCRIPTION)) fanout.set(topic, [...(fanout.get(topic) ?? []), sub]);
  for (const [topic, subs] of Object.entries(options.extraSubscriptions ?? {})) fanout.set(topic as TopicName, [...(fanout.get(topic as TopicName) ?? []), ...subs!]);
  const waiters = new Map<string, Set<() => void>>();
  const subscribers = new Set<Subscriber>();
  let closed = false;
  let ackedSinceGc = 0;
  const { db } = handle;

  const wakeAll = (subscription: string) => {
    for (const wake of waiters.get(subscription) ?? []) wake();
  };

  function publish(messages: OutgoingMessage[]): Promise<PublishResult> {
    if (closed) return Promise.resolve({ failed: messages.map((m) => ({ id: m.id, error: new TransportError("local transport is closed", true) })) });
    const at = now();
    const woken = new Set<string>();
    try {
      const insertMessage = handle.prepare(SQL.insertMessage);
      const insertDelivery = handle.prepare(SQL.insertDelivery);
      db.transaction(() => {
        for (const m of messages) {
          const subs = fanout.get(m.topic) ?? [];
          if (subs.length === 0) continue; // like SNS with no subscriptions: accepted, delivered to no one
          const { lastInsertRowid } = insertMessage.run(m.id, m.body, m.attributes ? JSON.stringify(m.attributes) : null) as { lastInsertRowid: number | bigint; changes: number };
          for (const s of subs) {
            insertDelivery.run(s, Number(lastInsertRowid), at, null);
            woken.add(s);
          }
        }
      }, { behavior: "immediate" });
    } catch (error) {
      const err = new TransportError(`local queue write failed: ${(error as Error).message}`, true, { cause: error, messageIds: messages.map((m) => m.id) });
      return Promise.resolve({ failed: messages.map((m) => ({ id: m.id, error: err })) });
    }
    for (const s of woken) wakeAll(s);
    return Promise.resolve({ failed: [] });
  }

  /** Claims visible deliveries; those past max attempts move to the dlq subscription in the same transaction. */
  function claim(subscription: SubscriptionName, limit: number): Claimed[] {
    const at = now();
    let moved = 0;
    const claimed = db.transaction(() => {
      const rows = handle
        .prepare(SQL.pick)
        .all<{ seq: number; attempts: number; dead_letter_source: string | null; message_id: string; body: string; attributes: string | null }>(subscription, at, limit);
      const lease = handle.prepare(SQL.lease);
      const out: Claimed[] = [];
      for (const r of rows) {
        const attempts = r.attempts + 1;
        if (subscription !== "dlq" && attempts > options.maxAttempts) {
          handle.prepare(SQL.toDlq).run(subscription, at, r.seq);
          moved++;
          continue;
        }
        lease.run(at + options.visibilityTimeoutMs, r.seq);
        const delivery: Delivery = { messageId: r.message_id, body: r.body, attributes: r.attributes ? JSON.parse(r.attributes) : {}, attempt: attempts };
        if (subscription === "dlq" && r.dead_letter_source) delivery.deadLetterSource = r.dead_letter_source as SubscriptionName;
        out.push({ seq: r.seq, delivery });
      }
      return out;
    }, { behavior: "immediate" });
    if (moved) {
      options.logger?.warn({ subscription, moved }, "messages exceeded max attempts; moved to dlq");
      wakeAll("dlq");
    }
    return claimed;
  }

  function settle(batch: Claimed[], outcomes: { kind: string; delayMs?: number }[]): void {
    const at = now();
    const ack = handle.prepare(SQL.ack);
    const retry = handle.prepare(SQL.retry);
    db.transaction(() => {
      batch.forEach((c, i) => {
        const o = outcomes[i];
        if (o?.kind === "ack") ack.run(c.seq);
        else retry.run(at + (o?.delayMs ?? 0), c.seq);
      });
    }, { behavior: "immediate" });
    ackedSinceGc += batch.length;
    if (ackedSinceGc >= 5000) {
      ackedSinceGc = 0;
      handle.prepare(SQL.gc).run();
    }
  }

  /** Keeps the claimed deliveries invisible while the handler runs. */
  function extend(batch: Claimed[]): void {
    const update = handle.prepare(SQL.extend);
    const until = now() + options.visibilityTimeoutMs;
    db.transaction(() => {
      for (const c of batch) update.run(until, c.seq);
    });
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
          // The deliveries stay claimed and come back after the visibility timeout: at-least-once holds.
          options.logger?.error({ err: error, subscription }, "local queue ack failed");
        }
      }
    };
    const done = Promise.all(Array.from({ length: opts.concurrency ?? 1 }, worker));
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
      handle.prepare("SELECT 1").get();
    },
    async provision(): Promise<ProvisionStep[]> {
      return [...fanout.entries()].map(([topic, subs]) => ({ resource: `local topic ${topic} -> ${subs.join(", ") || "(no subscribers)"}`, action: "exists" as const }));
    },
    async teardown(): Promise<ProvisionStep[]> {
      db.transaction((tx) => {
        tx.run(sql`DELETE FROM local_deliveries`);
        tx.run(sql`DELETE FROM local_messages`);
      });
      return [{ resource: "local queue", action: "deleted" }];
    },
    async close() {
      closed = true;
      await Promise.all([...subscribers].map((s) => s.close()));
    },
  };
}

/** Deliveries waiting per subscription (for /status and tests). */
export function localQueueDepth(handle: DbHandle): Record<string, number> {
  const rows = handle.prepare("SELECT subscription, count(*) AS n FROM local_deliveries GROUP BY subscription").all<{ subscription: string; n: number }>();
  return Object.fromEntries(rows.map((r) => [r.subscription, r.n]));
}
