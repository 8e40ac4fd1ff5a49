// The idempotent inbox: what each consumer already processed, keyed by business key, holding the message id.
import { lt } from "drizzle-orm";
import type { Db, DbHandle } from "../db/open.ts";
import { inbox } from "../db/schema.ts";

export interface InboxItem {
  /** Envelope id, when the message had one. */
  messageId: string | null;
  /** order_id for orders, payment_id for payments. */
  businessKey: string | null;
}

/**
 * The dedupe key: `k:<business key>` when there is one (a retrying producer's copy under a new message id is
 * caught too), else `m:<message id>`. Every valid order and payment has a business key.
 */
const keyOf = (item: InboxItem): string | null => (item.businessKey ? `k:${item.businessKey}` : item.messageId ? `m:${item.messageId}` : null);

/**
 * Guarantees: `seen` is true for an item whose key this consumer recorded within the retention window;
 * `record` is atomic with the caller's transaction and reports which items are new.
 * Batches go to SQLite as one JSON parameter (json_each): one statement per batch, not per message.
 */
export class Inbox {
  private readonly db: Db;

  constructor(
    private readonly handle: DbHandle,
    private readonly now: () => number = Date.now,
  ) {
    this.db = handle.db;
  }

  /** One boolean per item: already processed by `consumer`. */
  seen(consumer: string, items: InboxItem[]): boolean[] {
    const keys = items.map(keyOf);
    const wanted = keys.filter((k): k is string => k !== null);
    if (wanted.length === 0) return items.map(() => false);
    // CROSS JOIN fixes the loop order: per batch key a primary-key lookup, never a scan of the inbox.
    const rows = this.handle
      .prepare("SELECT i.key AS key FROM json_each(?) j CROSS JOIN inbox i ON i.consumer = ? AND i.key = j.value")
      .all<{ key: string }>(JSON.stringify(wanted), consumer);
    const found = new Set(rows.map((r) => r.key));
    return keys.map((k) => k !== null && found.has(k));
  }

  /**
   * Records items as processed; returns one boolean per item: true when its key was not there yet.
   * Call inside the transaction that makes the effect's bookkeeping durable.
   */
  record(consumer: string, items: InboxItem[], tx: Db = this.db): boolean[] {
    void tx; // statements run on the same connection, inside the caller's transaction
    const insert = this.handle.prepare("INSERT INTO inbox (consumer, key, message_id, processed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
    const at = this.now();
    return items.map((item) => {
      const key = keyOf(item);
      return key !== null && insert.run(consumer, key, item.messageId, at).changes > 0;
    });
  }

  /** Forgets entries older than the retention window; returns how many. */
  purge(retentionMs: number): number {
    const res = this.db.delete(inbox).where(lt(inbox.processedAt, this.now() - retentionMs)).run() as unknown as { changes: number };
    return res.changes;
  }
}

/** Durable per-role counters. */
export class Counters {
  constructor(private readonly handle: DbHandle) {}

  /** Adds to counters; pass the caller's transaction to make them atomic with its writes (same connection). */
  add(scope: string, deltas: Record<string, number>, tx?: Db): void {
    void tx;
    const add = this.handle.prepare("INSERT INTO counters (scope, name, value) VALUES (?, ?, ?) ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value");
    for (const name in deltas) if (deltas[name]) add.run(scope, name, deltas[name]);
  }

  get(scope: string): Record<string, number> {
    const rows = this.handle.prepare("SELECT name, value FROM counters WHERE scope = ?").all<{ name: string; value: number }>(scope);
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }
}
