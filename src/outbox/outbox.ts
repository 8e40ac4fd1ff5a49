// The transactional outbox: rows written with the writer's own bookkeeping, relayed at least once.
import { and, asc, eq, gte, inArray, lte, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { counters, outbox } from "../db/schema.ts";
import type { OutgoingMessage, TopicName } from "../transport/types.ts";

export interface OutboxRow extends OutgoingMessage {
  seq: number;
  attempts: number;
}

/**
 * Guarantees:
 * - `add` inside the caller's transaction makes the messages exactly as durable as the caller's own writes.
 * - Rows are claimed in `seq` order under a lease, so processes sharing the data dir relay disjoint rows;
 *   a lease that expires (its process died) makes the rows claimable again: delivery is at least once.
 * - "sent" means the transport confirmed the message; only then is the row deleted (and `sent` counted).
 */
export class Outbox {
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** Appends messages. Pass the transaction handle to make them atomic with other writes. */
  add(messages: OutgoingMessage[], tx: Db = this.db): void {
    if (messages.length === 0) return;
    const createdAt = this.now();
    for (let i = 0; i < messages.length; i += 500) {
      tx.insert(outbox)
        .values(
          messages.slice(i, i + 500).map((m) => ({
            id: m.id,
            topic: m.topic,
            body: m.body,
            attributes: m.attributes ? JSON.stringify(m.attributes) : null,
            orderingKey: m.orderingKey ?? null,
            createdAt,
          })),
        )
        .run();
    }
  }

  /** Wakes relays of this process after a commit (other processes find rows by polling). */
  notify(): void {
    for (const listener of this.listeners) listener();
  }

  onAdded(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Leases up to `limit` unsent rows whose lease has expired, oldest first. */
  claim(limit: number, leaseMs: number): OutboxRow[] {
    const now = this.now();
    const rows = this.db.transaction((tx) => {
      const picked = tx
        .select({ seq: outbox.seq })
        .from(outbox)
        .where(lte(outbox.leaseUntil, now))
        .orderBy(asc(outbox.seq))
        .limit(limit)
        .all()
        .map((r) => r.seq);
      if (picked.length === 0) return [];
      return tx
        .update(outbox)
        .set({ leaseUntil: now + leaseMs, attempts: sql`${outbox.attempts} + 1` })
        .where(inArray(outbox.seq, picked))
        .returning()
        .all();
    }, { behavior: "immediate" });
    return rows
      .sort((a, b) => a.seq - b.seq)
      .map((r) => ({
        seq: r.seq,
        id: r.id,
        topic: r.topic as TopicName,
        body: r.body,
        attributes: r.attributes ? (JSON.parse(r.attributes) as Record<string, string>) : undefined,
        orderingKey: r.orderingKey ?? undefined,
        attempts: r.attempts,
      }));
  }

  /** The transport confirmed these rows: delete them and count them as sent. */
  markSent(seqs: number[]): void {
    if (seqs.length === 0) return;
    this.db.transaction((tx) => {
      for (let i = 0; i < seqs.length; i += 500) tx.delete(outbox).where(inArray(outbox.seq, seqs.slice(i, i + 500))).run();
      tx.insert(counters)
        .values({ scope: "outbox", name: "sent", value: seqs.length })
        .onConflictDoUpdate({ target: [counters.scope, counters.name], set: { value: sql`${counters.value} + ${seqs.length}` } })
        .run();
    }, { behavior: "immediate" });
  }

  /** Publishing failed: make the rows claimable again after `retryInMs`. */
  release(seqs: number[], retryInMs: number, error: string): void {
    if (seqs.length === 0) return;
    const at = this.now() + retryInMs;
    for (let i = 0; i < seqs.length; i += 500) {
      this.db.update(outbox).set({ leaseUntil: at, lastError: error.slice(0, 500) }).where(inArray(outbox.seq, seqs.slice(i, i + 500))).run();
    }
  }

  /** How many rows with seq in [first, last] are still waiting to be confirmed. */
  pendingBetween(first: number, last: number): number {
    return this.db.select({ n: sql<number>`count(*)` }).from(outbox).where(and(gte(outbox.seq, first), lte(outbox.seq, last))).get()!.n;
  }

  /** The newest seq (call inside the writer's transaction right after `add` to learn the range it wrote). */
  lastSeq(tx: Db = this.db): number {
    return tx.select({ n: sql<number>`coalesce(max(seq), 0)` }).from(outbox).get()!.n;
  }

  stats(): { pending: number; sent: number } {
    const pending = this.db.select({ n: sql<number>`count(*)` }).from(outbox).get()!.n;
    const sent = this.db
      .select({ value: counters.value })
      .from(counters)
      .where(and(eq(counters.scope, "outbox"), eq(counters.name, "sent")))
      .get()?.value ?? 0;
    return { pending, sent };
  }
}
