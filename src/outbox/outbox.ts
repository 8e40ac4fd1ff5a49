// The transactional outbox: rows written with the writer's own bookkeeping, relayed at least once.
import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import type { Db, DbHandle } from "../db/open.ts";
import { counters } from "../db/schema.ts";
import type { OutgoingMessage, TopicName, Transport } from "../transport/types.ts";

export interface OutboxRow extends OutgoingMessage {
  seq: number;
  attempts: number;
}

const INSERT = "INSERT INTO outbox (id, topic, body, attributes, ordering_key, created_at) VALUES (?, ?, ?, ?, ?, ?)";
const SELECT_DUE = "SELECT seq, id, topic, body, attributes, ordering_key, attempts FROM outbox WHERE retry_at <= ? ORDER BY seq LIMIT ?";
const DELETE = "DELETE FROM outbox WHERE seq = ?";
const SELECT_AFTER = "SELECT seq, id, topic, body, attributes, ordering_key, attempts FROM outbox WHERE seq > ? ORDER BY seq";

type StoredRow = { seq: number; id: string; topic: string; body: string; attributes: string | null; ordering_key: string | null; attempts: number };
const toRow = (r: StoredRow): OutboxRow => ({
  seq: r.seq,
  id: r.id,
  topic: r.topic as TopicName,
  body: r.body,
  attributes: r.attributes ? (JSON.parse(r.attributes) as Record<string, string>) : undefined,
  orderingKey: r.ordering_key ?? undefined,
  attempts: r.attempts,
});
// Plain `?` parameters: better-sqlite3 treats numbered ones (`?1`) as named and rejects positional values.
const TAKE_LEASE = `INSERT INTO relay_lease (id, owner, until) VALUES (1, ?, ?)
  ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE relay_lease.owner = excluded.owner OR relay_lease.until < ?`;

/**
 * Guarantees:
 * - `add` inside the caller's transaction makes the messages exactly as durable as the caller's own writes.
 * - One process at a time relays a data dir's outbox (a lease row it renews; if that process dies, the lease
 *   expires and another takes over), in `seq` order. Delivery is at least once: a relay that dies between
 *   publish and delete leaves rows that are published again.
 * - "sent" means the transport confirmed the message; only then is the row deleted (and `sent` counted).
 * - With a sink (the local queue, which lives in this database), `add` hands the messages to the queue on the same
 *   transaction instead: they are sent when that transaction commits, and no outbox row is written.
 */
export class Outbox {
  private readonly listeners = new Set<() => void>();
  private readonly owner = randomUUID();
  private leaseUntil = 0;

  constructor(
    private readonly handle: DbHandle,
    private readonly now: () => number = Date.now,
    private readonly sink?: Transport["outboxSink"],
  ) {}

  /** Appends messages. Pass the transaction handle to make them atomic with other writes (same connection). */
  add(messages: OutgoingMessage[], tx: Db = this.handle.db): void {
    if (messages.length === 0) return;
    void tx;
    if (this.sink) {
      this.sink.append(messages);
      this.countSent(messages.length);
      return;
    }
    const insert = this.handle.prepare(INSERT);
    const at = this.now();
    for (const m of messages) insert.run(m.id, m.topic, m.body, m.attributes ? JSON.stringify(m.attributes) : null, m.orderingKey ?? null, at);
  }

  /** Wakes relays of this process after a commit (other processes find rows by polling). */
  notify(): void {
    this.sink?.wake();
    for (const listener of this.listeners) listener();
  }

  onAdded(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes or renews the relay lease; false while another live process holds it. */
  lease(leaseMs: number): boolean {
    const now = this.now();
    if (this.leaseUntil - now > leaseMs / 2) return true;
    const res = this.handle.prepare(TAKE_LEASE).run(this.owner, now + leaseMs, now);
    this.leaseUntil = res.changes > 0 ? now + leaseMs : 0;
    return res.changes > 0;
  }

  /** Gives the lease up (clean shutdown) so another process can relay at once. */
  releaseLease(): void {
    this.handle.prepare("DELETE FROM relay_lease WHERE owner = ?").run(this.owner);
    this.leaseUntil = 0;
  }

  /** Up to `limit` unsent rows due now, oldest first; empty when another process holds the relay lease. */
  claim(limit: number, leaseMs: number): OutboxRow[] {
    if (!this.lease(leaseMs)) return [];
    return this.handle.prepare(SELECT_DUE).all<StoredRow>(this.now(), limit).map(toRow);
  }

  /** Counts rows a transport published straight from the outbox table (call inside that transaction). */
  countSent(n: number): void {
    this.handle.prepare("INSERT INTO counters (scope, name, value) VALUES ('outbox', 'sent', ?) ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value").run(n);
  }

  /** The transport confirmed these rows: delete them and count them as sent. */
  markSent(seqs: number[]): void {
    if (seqs.length === 0) return;
    const del = this.handle.prepare(DELETE);
    this.handle.db.transaction((tx) => {
      for (const seq of seqs) del.run(seq);
      tx.insert(counters)
        .values({ scope: "outbox", name: "sent", value: seqs.length })
        .onConflictDoUpdate({ target: [counters.scope, counters.name], set: { value: sql`${counters.value} + ${seqs.length}` } })
        .run();
    }, { behavior: "immediate" });
  }

  /** Publishing failed: retry these rows after `retryInMs`. */
  release(seqs: number[], retryInMs: number, error: string): void {
    const update = this.handle.prepare("UPDATE outbox SET retry_at = ?, attempts = attempts + 1, last_error = ? WHERE seq = ?");
    const at = this.now() + retryInMs;
    this.handle.db.transaction(() => {
      for (const seq of seqs) update.run(at, error.slice(0, 500), seq);
    });
  }

  /** Every row after `seq`, due or not, oldest first (a Lambda invocation's own rows, to settle before it answers). */
  after(seq: number): OutboxRow[] {
    return this.handle.prepare(SELECT_AFTER).all<StoredRow>(seq).map(toRow);
  }

  /** Deletes rows whose message was made durable another way (a dead letter written to the store directly). */
  remove(seqs: number[]): void {
    const del = this.handle.prepare(DELETE);
    this.handle.db.transaction(() => {
      for (const seq of seqs) del.run(seq);
    }, { behavior: "immediate" });
  }

  /** How many rows with seq in [first, last] are still waiting to be confirmed. */
  pendingBetween(first: number, last: number): number {
    return this.handle.prepare("SELECT count(*) AS n FROM outbox WHERE seq BETWEEN ? AND ?").get<{ n: number }>(first, last)!.n;
  }

  /** The newest publish error recorded on rows with seq in [first, last] (by whichever relay tried them). */
  lastErrorBetween(first: number, last: number): string | null {
    const sql = "SELECT last_error FROM outbox WHERE seq BETWEEN ? AND ? AND last_error IS NOT NULL ORDER BY retry_at DESC LIMIT 1";
    return this.handle.prepare(sql).get<{ last_error: string }>(first, last)?.last_error ?? null;
  }

  /** Rows with seq in [first, last] still waiting, per topic. */
  pendingByTopic(first: number, last: number): Partial<Record<TopicName, number>> {
    const sql = "SELECT topic, count(*) AS n FROM outbox WHERE seq BETWEEN ? AND ? GROUP BY topic";
    const rows = this.handle.prepare(sql).all<{ topic: TopicName; n: number }>(first, last);
    return Object.fromEntries(rows.map((r) => [r.topic, r.n]));
  }

  /** Whether another live process holds the relay lease now (it is the one publishing the data dir's rows). */
  leasedElsewhere(): boolean {
    const row = this.handle.prepare("SELECT owner, until FROM relay_lease WHERE id = 1").get<{ owner: string; until: number }>();
    return !!row && row.owner !== this.owner && row.until >= this.now();
  }

  /** The newest seq (call inside the writer's transaction right after `add` to learn the range it wrote). */
  lastSeq(): number {
    return this.handle.prepare("SELECT coalesce(max(seq), 0) AS n FROM outbox").get<{ n: number }>()!.n;
  }

  /** Rows not yet confirmed by the transport. */
  pending(): number {
    return this.handle.prepare("SELECT count(*) AS n FROM outbox").get<{ n: number }>()!.n;
  }

  stats(): { pending: number; sent: number } {
    const pending = this.pending();
    const sent = this.handle.db
      .select({ value: counters.value })
      .from(counters)
      .where(and(eq(counters.scope, "outbox"), eq(counters.name, "sent")))
      .get()?.value ?? 0;
    return { pending, sent };
  }
}
