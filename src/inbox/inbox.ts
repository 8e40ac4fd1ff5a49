// The idempotent inbox: what each consumer already processed, by message id and by business key.
import { and, eq, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { counters, inbox } from "../db/schema.ts";

export interface InboxItem {
  /** Envelope id, when the message had one. */
  messageId: string | null;
  /** order_id for orders, payment_id for payments. */
  businessKey: string | null;
}

const keysOf = (item: InboxItem) => [item.messageId ? `m:${item.messageId}` : null, item.businessKey ? `k:${item.businessKey}` : null].filter((k): k is string => k !== null);

/**
 * Guarantees: `seen` is true for an item whose message id or business key was recorded by this consumer within
 * the retention window; `record` is atomic with the caller's transaction and reports which items are new.
 */
export class Inbox {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** One boolean per item: already processed by `consumer`. */
  seen(consumer: string, items: InboxItem[]): boolean[] {
    const all = items.flatMap(keysOf);
    const found = new Set<string>();
    for (let i = 0; i < all.length; i += 500) {
      const rows = this.db
        .select({ key: inbox.key })
        .from(inbox)
        .where(and(eq(inbox.consumer, consumer), inArray(inbox.key, all.slice(i, i + 500))))
        .all();
      for (const r of rows) found.add(r.key);
    }
    return items.map((item) => keysOf(item).some((k) => found.has(k)));
  }

  /**
   * Records items as processed; returns one boolean per item: true when it was new (neither its id nor its key
   * was there). Call inside the transaction that makes the effect's bookkeeping durable.
   */
  record(consumer: string, items: InboxItem[], tx: Db = this.db): boolean[] {
    const at = this.now();
    return items.map((item) => {
      let fresh = true;
      for (const key of keysOf(item)) {
        const res = tx.insert(inbox).values({ consumer, key, processedAt: at }).onConflictDoNothing().run() as unknown as { changes: number };
        if (res.changes === 0) fresh = false;
      }
      return fresh;
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
    for (const [name, delta] of Object.entries(deltas)) {
      if (!delta) continue;
      tx.insert(counters)
        .values({ scope, name, value: delta })
        .onConflictDoUpdate({ target: [counters.scope, counters.name], set: { value: sql`${counters.value} + ${delta}` } })
        .run();
    }
  }

  get(scope: string): Record<string, number> {
    const rows = this.db.select().from(counters).where(eq(counters.scope, scope)).all();
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }
}
