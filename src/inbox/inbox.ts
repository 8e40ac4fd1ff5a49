// The idempotent inbox: what each consumer already processed, keyed by business key, holding the message id.
import { eq, lt, sql } from "drizzle-orm";
import type { Db, DbHandle } from "../db/open.ts";
import { counters, inbox } from "../db/schema.ts";

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
    const rows = this.db.all<{ key: string }>(
      // CROSS JOIN fixes the loop order: per batch key a primary-key lookup, never a scan of the inbox.
      sql`SELECT i.key AS key FROM json_each(${JSON.stringify(wanted)}) j CROSS JOIN inbox i ON i.consumer = ${consumer} AND i.key = j.value`,
    );
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
  constructor(private readonly db: Db) {}

  add(scope: string, deltas: Record<string, number>, tx: Db = this.db): void {
    const rows = Object.entries(deltas).filter(([, d]) => d);
    if (rows.length === 0) return;
    tx.run(
      sql`INSERT INTO counters (scope, name, value) SELECT ${scope}, value->>0, value->>1 FROM json_each(${JSON.stringify(rows)}) WHERE true
          ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value`,
    );
  }

  get(scope: string): Record<string, number> {
    const rows = this.db.select().from(counters).where(eq(counters.scope, scope)).all();
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }
}
