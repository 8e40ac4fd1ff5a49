// The embedded transport: a durable SQLite queue in the data dir, shared by every ecom process using it.
import { sql } from "drizzle-orm";
import { isBusy, noteBusy, whenWritable, whenWritableSync } from "../db/busy.ts";
import type { DbHandle } from "../db/open.ts";
import type { Logger } from "../log.ts";
import {
  TOPIC_OF_SUBSCRIPTION,
  TransportError,
  type BatchHandler,
  type Delivery,
  type Outcome,
  type OutgoingMessage,
  type ProvisionStep,
  type PublishResult,
  type SubscribeOptions,
  type Subscriber,
  type SubscriptionName,
  type TopicName,
  type TransactionalAck,
} from "./types.ts";
import { OUTBOX_DUE, OUTBOX_MOVE, SQL } from "./local-sql.ts";
import type { Transport } from "./types.ts";

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

type LogRow = { seq: number; message_id: string; body: string; attributes: string | null };

/** A claimed batch: a seq range of the subscription's topic under one lease row, or single redeliveries. */
type Claim =
  | { kind: "range"; topic: string; from: number; to: number; attempts: number; token: number; deliveries: Delivery[]; seqs: number[] }
  | { kind: "single"; items: { topic: string; seq: number; attempts: number; source: string | null }[]; deliveries: Delivery[] };

/** A delivery whose attributes are parsed only if someone reads them (the roles read the body). */
class LocalDelivery implements Delivery {
  deadLetterSource?: SubscriptionName;
  readonly messageId: string;
  readonly body: string;
  private readonly rawAttributes: string | null;
  constructor(r: LogRow, readonly attempt: number) {
    this.messageId = r.message_id;
    this.body = r.body;
    this.rawAttributes = r.attributes;
  }
  get attributes(): Record<string, string> {
    return this.rawAttributes ? (JSON.parse(this.rawAttributes) as Record<string, string>) : {};
  }
}

const toDelivery = (r: LogRow, attempt: number): Delivery => new LocalDelivery(r, attempt);

/**
 * Each topic is an append-only log (`local_log`, one growing seq for all topics); each subscription has a cursor and claims the next
 * range of the log as one row (`local_claims`) with a visibility timeout, so claiming, extending and acking a batch
 * touch one row whatever its size, and fan-out costs nothing per message. A process that dies leaves its claim to
 * expire; the range is then claimed again with one more attempt. Messages retried on their own (a nack inside a
 * batch) or moved to the dlq subscription after max attempts get a row each (`local_redeliveries`). The log is
 * trimmed below the lowest seq any subscription of the topic still needs.
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
  let lastGcAt = 0;
  const { db } = handle;
  const run = (text: string, ...params: unknown[]) => handle.prepare(text).run(...params);
  const get = <T>(text: string, ...params: unknown[]) => handle.prepare(text).get<T>(...params);
  const all = <T>(text: string, ...params: unknown[]) => handle.prepare(text).all<T>(...params);

  // Every subscription this process knows starts at the end of its topic's log when first seen (like a new SQS
  // queue or Pub/Sub subscription); the cursors are shared by all processes on the data dir.
  // A process starting beside busy ones (ecom produce into a running demo) waits for the lock here, as opening does.
  whenWritableSync(() =>
    db.transaction(() => {
      for (const [topic, subs] of fanout) for (const s of subs) run(SQL.register, s, topic);
    }, { behavior: "immediate" }),
  );

  const wakeAll = (topic: string) => {
    for (const s of fanout.get(topic as TopicName) ?? []) for (const wake of waiters.get(s) ?? []) wake();
  };
  const token = () => Math.floor(Math.random() * 2 ** 48);

  /**
   * Appends to the topic logs with statements on the handle's connection, so inside the caller's open transaction the
   * messages are queued exactly when the caller's own writes commit. Topics nobody subscribes to take nothing (like SNS
   * without subscriptions). Returns the topics that took some.
   */
  function append(messages: OutgoingMessage[]): string[] {
    const insert = handle.prepare(SQL.append);
    const subscribed = handle.prepare(SQL.subscribed);
    // A batch holds a few topics: each is looked up once per call.
    const takes = new Map<string, boolean>();
    for (const m of messages) {
      let yes = takes.get(m.topic);
      if (yes === undefined) takes.set(m.topic, (yes = subscribed.get(m.topic) !== undefined));
      if (yes) insert.run(m.topic, m.id, m.body, m.attributes ? JSON.stringify(m.attributes) : null);
    }
    return [...takes].filter(([, yes]) => yes).map(([topic]) => topic);
  }

  /** Topics the outbox appended to since the last wake (their subscribers in this process are woken after the commit). */
  const appended = new Set<string>();

  function publish(messages: OutgoingMessage[]): Promise<PublishResult> {
    if (closed) return Promise.resolve({ failed: messages.map((m) => ({ id: m.id, error: new TransportError("local transport is closed", true) })) });
    let woken: string[] = [];
    try {
      woken = db.transaction(() => append(messages), { behavior: "immediate" });
    } catch (error) {
      const err = new TransportError(`local queue write failed: ${(error as Error).message}`, true, { cause: error, messageIds: messages.map((m) => m.id) });
      return Promise.resolve({ failed: messages.map((m) => ({ id: m.id, error: err })) });
    }
    for (const t of woken) wakeAll(t);
    return Promise.resolve({ failed: [] });
  }

  /** Moves messages past max attempts to the dlq subscription, each on its own. */
  function singlesToDlq(subscription: string, items: { topic: string; seq: number }[], at: number): void {
    for (const it of items) {
      run(SQL.ackSingle, subscription, it.seq);
      run(SQL.toDlq, it.topic, it.seq, at, subscription);
    }
  }

  /**
   * Claims, in this order: a range whose lease expired (its holder died or gave it back), single redeliveries that
   * are due, the next range of the log. Anything past max attempts goes to the dlq subscription instead.
   */
  function claim(subscription: string, limit: number): Claim | null {
    const at = now();
    const leaseUntil = at + options.visibilityTimeoutMs;
    let moved = 0;
    const claimed = db.transaction((): Claim | null => {
      const cursor = get<{ topic: string; claimed_upto: number }>(SQL.cursor, subscription);
      if (!cursor) return null;
      const { topic } = cursor;
      const isDlq = subscription === "dlq";

      const expired = get<{ from_seq: number; to_seq: number; attempts: number }>(SQL.expired, subscription, at);
      if (expired) {
        const rows = all<LogRow>(SQL.range, topic, expired.from_seq, expired.to_seq);
        if (!isDlq && expired.attempts + 1 > options.maxAttempts) {
          // Every message of the range failed max times: each goes to dlq on its own.
          run(SQL.dropClaim, subscription, expired.from_seq);
          singlesToDlq(subscription, rows.map((r) => ({ topic, seq: r.seq })), at);
          moved += rows.length;
        } else {
          const t = token();
          run(SQL.reclaim, expired.attempts + 1, leaseUntil, t, subscription, expired.from_seq);
          return {
            kind: "range", topic, from: expired.from_seq, to: expired.to_seq, attempts: expired.attempts + 1, token: t,
            deliveries: rows.map((r) => toDelivery(r, expired.attempts + 1)), seqs: rows.map((r) => r.seq),
          };
        }
      }

      const due = all<LogRow & { topic: string; attempts: number; dead_letter_source: string | null }>(SQL.due, subscription, at, limit);
      if (due.length) {
        const items: Extract<Claim, { kind: "single" }>["items"] = [];
        const deliveries: Delivery[] = [];
        for (const r of due) {
          const attempts = r.attempts + 1;
          if (!isDlq && attempts > options.maxAttempts) {
            singlesToDlq(subscription, [r], at);
            moved++;
            continue;
          }
          run(SQL.leaseSingle, attempts, leaseUntil, subscription, r.seq);
          const d = toDelivery(r, attempts);
          if (isDlq && r.dead_letter_source) d.deadLetterSource = r.dead_letter_source as SubscriptionName;
          items.push({ topic: r.topic, seq: r.seq, attempts, source: r.dead_letter_source });
          deliveries.push(d);
        }
        if (items.length) return { kind: "single", items, deliveries };
      }

      const rows = all<LogRow>(SQL.next, topic, cursor.claimed_upto, limit);
      if (rows.length === 0) return null;
      const from = rows[0]!.seq;
      const to = rows[rows.length - 1]!.seq;
      const t = token();
      run(SQL.insertClaim, subscription, from, to, 1, leaseUntil, t);
      run(SQL.advance, to, subscription);
      return { kind: "range", topic, from, to, attempts: 1, token: t, deliveries: rows.map((r) => toDelivery(r, 1)), seqs: rows.map((r) => r.seq) };
    }, { behavior: "immediate" });
    if (moved) {
      options.logger?.warn({ subscription, moved }, "messages exceeded max attempts; moved to dlq");
      for (const wake of waiters.get("dlq") ?? []) wake();
    }
    return claimed;
  }

  /** Acks every delivery of a claim; runs inside the caller's transaction (same connection). */
  function ackAll(subscription: string, c: Claim): void {
    if (c.kind === "single") for (const it of c.items) run(SQL.ackSingle, subscription, it.seq);
    // If the lease was lost (expired and claimed again elsewhere), the other holder settles the range.
    else run(SQL.deleteClaim, subscription, c.from, c.token);
  }

  /**
   * Trims the logs every 5000 settled deliveries, and when a subscriber finds nothing to do (`idle`, at most once a
   * second), so what was acked does not stay once traffic stops.
   */
  function settled(count: number, idle = false): void {
    ackedSinceGc += count;
    if (ackedSinceGc >= 5000 || (idle && ackedSinceGc > 0 && now() - lastGcAt >= 1000)) {
      ackedSinceGc = 0;
      lastGcAt = now();
      for (const topic of fanout.keys()) run(SQL.gc, topic, topic, topic, topic, topic);
    }
  }

  function settle(subscription: string, c: Claim, outcomes: Outcome[]): void {
    const at = now();
    const delayOf = (o: Outcome | undefined) => (o?.kind === "retry" ? (o.delayMs ?? 0) : 0);
    db.transaction(() => {
      if (c.kind === "single") {
        c.items.forEach((it, i) => {
          const o = outcomes[i];
          if (o?.kind === "ack") run(SQL.ackSingle, subscription, it.seq);
          else run(SQL.leaseSingle, it.attempts, at + delayOf(o), subscription, it.seq);
        });
        return;
      }
      const retries = c.seqs.filter((_, i) => outcomes[i]?.kind !== "ack");
      const sameDelay = retries.length === c.seqs.length && outcomes.every((o) => delayOf(o) === delayOf(outcomes[0]));
      if (sameDelay) {
        // The whole batch comes back later as the same range.
        run(SQL.extendClaim, at + delayOf(outcomes[0]), subscription, c.from, c.token);
        return;
      }
      // If the lease was lost (expired and claimed again elsewhere), the other holder settles the range.
      if (run(SQL.deleteClaim, subscription, c.from, c.token).changes === 0) return;
      c.seqs.forEach((seq, i) => {
        if (outcomes[i]?.kind !== "ack") run(SQL.single, subscription, c.topic, seq, c.attempts, at + delayOf(outcomes[i]), null);
      });
    }, { behavior: "immediate" });
    settled(c.deliveries.length);
  }

  /** Keeps the claimed batch invisible while the handler runs. */
  function extend(subscription: string, c: Claim): void {
    const until = now() + options.visibilityTimeoutMs;
    if (c.kind === "range") run(SQL.extendClaim, until, subscription, c.from, c.token);
    else db.transaction(() => c.items.forEach((it) => run(SQL.leaseSingle, it.attempts, until, subscription, it.seq)));
  }

  function subscribe(subscription: SubscriptionName, handler: BatchHandler, opts: SubscribeOptions): Subscriber {
    let running = true;
    let wake: (() => void) | null = null;
    const set = waiters.get(subscription) ?? new Set();
    waiters.set(subscription, set);
    const onWake = () => wake?.();
    set.add(onWake);

    // Marked as consumed when a role starts: beside busy processes it waits for the lock, as the registration does.
    whenWritableSync(() => run(SQL.consumed, subscription));
    const worker = async () => {
      let failures = 0;
      while (running) {
        let batch: Claim | null = null;
        try {
          batch = await whenWritable(() => claim(subscription, opts.maxBatch));
          failures = 0;
        } catch (error) {
          failures++;
          options.logger?.error({ err: error, subscription }, "local queue claim failed; backing off");
        }
        if (!batch) {
          try {
            settled(0, true);
          } catch (error) {
            options.logger?.warn({ err: error, subscription }, "local queue trim failed");
          }
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
        const claimed = batch;
        // The handler may ack the batch inside its own transaction (see TransactionalAck); if that transaction rolls
        // back, the handler throws or returns retries, and the batch is settled below as usual.
        let ackedInTx = false;
        const ack: TransactionalAck = {
          ackInTransaction() {
            if (!handle.inTransaction()) throw new Error("ackInTransaction needs an open transaction on the local queue's own connection");
            ackAll(subscription, claimed);
            ackedInTx = true;
          },
        };
        const keepAlive = setInterval(() => {
          try {
            extend(subscription, claimed);
          } catch (error) {
            // Under another process's lock the next extension (a third of the timeout later) tries again.
            if (isBusy(error)) noteBusy();
            else options.logger?.warn({ err: error, subscription }, "local queue lease extension failed");
          }
        }, Math.max(50, options.visibilityTimeoutMs / 3));
        let outcomes: Outcome[];
        try {
          outcomes = await handler(claimed.deliveries, ack);
        } catch (error) {
          options.logger?.error({ err: error, subscription }, "handler threw; messages will be redelivered");
          outcomes = claimed.deliveries.map(() => ({ kind: "retry" }));
        } finally {
          clearInterval(keepAlive);
        }
        try {
          if (ackedInTx && outcomes.every((o) => o.kind === "ack")) settled(claimed.deliveries.length);
          else await whenWritable(() => settle(subscription, claimed, outcomes));
        } catch (error) {
          // The batch stays claimed and comes back after the visibility timeout: at-least-once holds.
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

  /**
   * Rows that reached the outbox table (`ecom produce`, a data dir from before the outbox sink) are published in one
   * local transaction: copied into the topic logs and deleted, without reading them out. `inTx` runs inside it (the
   * relay counts them sent).
   */
  function publishOutbox(limit: number, inTx: (moved: number) => void): number {
    if (closed) return 0;
    const at = now();
    const moved = db.transaction(() => {
      const { upto, n } = get<{ upto: number | null; n: number }>(OUTBOX_DUE, at, limit)!;
      if (!n || upto === null) return 0;
      run(OUTBOX_MOVE.append, at, upto);
      run(OUTBOX_MOVE.remove, at, upto);
      inTx(n);
      return n;
    }, { behavior: "immediate" });
    if (moved) for (const topic of fanout.keys()) wakeAll(topic);
    return moved;
  }

  return {
    kind: "local",
    publish,
    publishOutbox,
    outboxSink: {
      append(messages) {
        for (const topic of append(messages)) appended.add(topic);
      },
      wake() {
        for (const topic of appended) wakeAll(topic);
        appended.clear();
      },
    },
    subscribe,
    async ping() {
      handle.prepare("SELECT 1").get();
    },
    async provision(): Promise<ProvisionStep[]> {
      return [...fanout.entries()].map(([topic, subs]) => ({ resource: `local topic ${topic} -> ${subs.join(", ") || "(no subscribers)"}`, action: "exists" as const }));
    },
    async teardown(): Promise<ProvisionStep[]> {
      db.transaction((tx) => {
        tx.run(sql`DELETE FROM local_claims`);
        tx.run(sql`DELETE FROM local_redeliveries`);
        tx.run(sql`DELETE FROM local_log`);
        tx.run(sql`UPDATE local_cursors SET claimed_upto = coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'local_log'), 0)`);
      });
      return [{ resource: "local queue", action: "deleted" }];
    },
    async close() {
      closed = true;
      await Promise.all([...subscribers].map((s) => s.close()));
    },
  };
}

/** Messages waiting or in flight per subscription (for /status and tests); subscriptions with none are left out. */
export function localQueueDepth(handle: DbHandle): Record<string, number> {
  const rows = handle
    .prepare(
      `SELECT u.subscription AS subscription,
          (SELECT count(*) FROM local_log l WHERE l.topic = u.topic AND l.seq > u.claimed_upto)
          + coalesce((SELECT sum((SELECT count(*) FROM local_log l WHERE l.topic = u.topic AND l.seq BETWEEN c.from_seq AND c.to_seq))
              FROM local_claims c WHERE c.subscription = u.subscription), 0)
          + (SELECT count(*) FROM local_redeliveries r WHERE r.subscription = u.subscription) AS n
        FROM local_cursors u`,
    )
    .all<{ subscription: string; n: number }>();
  return Object.fromEntries(rows.filter((r) => r.n > 0).map((r) => [r.subscription, r.n]));
}
