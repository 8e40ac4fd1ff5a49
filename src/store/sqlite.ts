// The embedded store: facts and dead-letter records in the data dir's SQLite database.
import { isBusy, whenWritable } from "../db/busy.ts";
import { and, asc, count, desc, eq, inArray, isNotNull, lte, or, lt, sql, type SQL } from "drizzle-orm";
import type { Db, DbHandle } from "../db/open.ts";
import { deadLetters, facts } from "../db/schema.ts";
import {
  DEAD_LETTER_STATUSES,
  type DeadLetterInput,
  type DeadLetterReason,
  type DeadLetterRecord,
  type DeadLetterStatus,
  type Fact,
  type Order,
  type Payment,
} from "../domain/model.ts";
import { decodeOrderCursor, encodeOrderCursor } from "./order-cursor.ts";
import { StoreError, type CustomerOrdersQuery, type FactPage, type DeadLetterPage, type DeadLetterQuery, type DeadLetterUpdate, type PaymentOutcome, type Store } from "./types.ts";

type FactRow = typeof facts.$inferSelect;
type DeadLetterRow = typeof deadLetters.$inferSelect;

const toFact = (r: FactRow): Fact => ({
  order_id: r.orderId,
  customer_id: r.customerId,
  item: r.item,
  quantity: r.quantity,
  price: r.price,
  shipping_address: r.shippingAddress,
  order_status: r.orderStatus,
  creation_date: r.creationDate,
  payment_id: r.paymentId,
  payment_method: r.paymentMethod,
  card_last_four: r.cardLastFour,
  payment_status: r.paymentStatus,
  payment_datetime: r.paymentDatetime,
});

const toRecord = (r: DeadLetterRow): DeadLetterRecord => ({
  id: r.id,
  reason: r.reason as DeadLetterReason,
  details: JSON.parse(r.details),
  original: r.original,
  topic: r.topic,
  subscription: r.subscription,
  message_id: r.messageId,
  type: r.type,
  business_key: r.businessKey,
  attempts: r.attempts,
  first_seen: r.firstSeen,
  last_seen: r.lastSeen,
  status: r.status as DeadLetterStatus,
  next_retry_at: r.nextRetryAt,
  updated_at: r.updatedAt,
});

/** Cursor = base64url of the last item's (first_seen, id): keyset pagination, newest first. */
const encodeCursor = (r: DeadLetterRecord) => Buffer.from(JSON.stringify([r.first_seen, r.id])).toString("base64url");
function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "string")) return value as [string, string];
  } catch {}
  throw new StoreError(`cursor ${JSON.stringify(cursor.slice(0, 40))} is not one this API returned`, false);
}

/** Runs a store write, waiting out another connection's lock off the event loop (busy.ts); errors as StoreError. */
async function guard<T>(what: string, fn: () => T): Promise<T> {
  try {
    return await whenWritable(fn);
  } catch (error) {
    throw storeError(what, error);
  }
}

/** Runs a store read (WAL readers wait for no lock, and a read tells nothing of whether writes go through). */
async function guardRead<T>(what: string, fn: () => T): Promise<T> {
  try {
    return fn();
  } catch (error) {
    throw storeError(what, error);
  }
}

function storeError(what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError(`sqlite ${what} failed: ${(error as Error).message}`, isBusy(error), { cause: error });
}

const UPSERT_ORDER = `INSERT INTO orders_payments_facts (order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, item = excluded.item, quantity = excluded.quantity,
    price = excluded.price, shipping_address = excluded.shipping_address, order_status = excluded.order_status,
    creation_date = excluded.creation_date`;
// A row holding another completed payment is left as it is (a duplicate charge, told apart from a missing order by a read).
const APPLY_PAYMENT = `UPDATE orders_payments_facts SET payment_id = ?, payment_method = ?, card_last_four = ?, payment_status = ?,
  payment_datetime = ? WHERE order_id = ? AND (payment_id IS NULL OR payment_id = ? OR payment_status IS NOT 'completed')`;
const KEPT_PAYMENT = "SELECT payment_id, price, quantity FROM orders_payments_facts WHERE order_id = ?";

// Dead-letter writes as prepared statements (through drizzle's builder a put cost 219-298 us a record, measured, where
// payments that overtake their orders come by the thousand). A repeat of a record counts an attempt and keeps its
// earliest first_seen and its schedule.
const PUT_DEAD_LETTER = `INSERT INTO dead_letters (id, reason, details, original, topic, subscription, message_id, type, business_key,
    attempts, first_seen, last_seen, status, next_retry_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, 'pending', ?, ?)
  ON CONFLICT (id) DO UPDATE SET attempts = attempts + 1, last_seen = max(last_seen, excluded.last_seen), status = 'pending',
    reason = excluded.reason, details = excluded.details, original = excluded.original,
    next_retry_at = coalesce(next_retry_at, excluded.next_retry_at), updated_at = excluded.updated_at`;
/** Unset fields (null) keep their value; next_retry_at is set (possibly to null) only when its flag is 1. */
const UPDATE_DEAD_LETTER = `UPDATE dead_letters SET updated_at = ?, status = coalesce(?, status), attempts = coalesce(?, attempts),
    last_seen = coalesce(?, last_seen), next_retry_at = CASE WHEN ? THEN ? ELSE next_retry_at END WHERE id = ?`;

export function createSqliteStore(handle: DbHandle, now: () => Date = () => new Date()): Store {
  const { db } = handle;
  // Order columns only: payment columns set earlier stay as they are.
  const upsertOrders = (orders: Order[]) => {
    const upsert = handle.prepare(UPSERT_ORDER);
    for (const o of orders) upsert.run(o.order_id, o.customer_id, o.item, o.quantity, o.price, o.shipping_address, o.order_status, o.creation_date);
  };
  const applyPayments = (payments: Payment[]) => {
    const apply = handle.prepare(APPLY_PAYMENT);
    const kept = handle.prepare(KEPT_PAYMENT);
    return payments.map((p): PaymentOutcome => {
      const { payment_id: id, order_id: orderId } = p;
      if (apply.run(id, p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime, orderId, id).changes > 0) return "applied";
      const row = kept.get<{ payment_id: number; price: number; quantity: number }>(orderId);
      if (!row) return "unmatched";
      return { outcome: "duplicate_charge", kept_payment_id: row.payment_id, price: row.price, quantity: row.quantity };
    });
  };
  const inOpenTransaction = <A, R>(what: string, fn: (arg: A) => R) => (arg: A): R => {
    if (!handle.inTransaction()) throw new Error(`sqlite store ${what} in a transaction needs one open on the data dir's connection`);
    return fn(arg);
  };
  return {
    kind: "sqlite",

    upsertOrders: (orders: Order[]) =>
      guard("upsertOrders", () => {
        if (orders.length === 0) return;
        db.transaction(() => upsertOrders(orders), { behavior: "immediate" });
      }),

    applyPayments: (payments: Payment[]) => guard("applyPayments", () => db.transaction(() => applyPayments(payments), { behavior: "immediate" })),

    inTransaction: {
      handle,
      upsertOrders: inOpenTransaction("upsertOrders", upsertOrders),
      applyPayments: inOpenTransaction("applyPayments", applyPayments),
    },

    getFact: (orderId: number) =>
      guardRead("getFact", () => {
        const row = db.select().from(facts).where(eq(facts.orderId, orderId)).get();
        return row ? toFact(row) : null;
      }),

    // A scan of the facts table: there is no index by customer (migration v3), which cost every order write ~10% of the
    // embedded pipeline's CPU for a query no endpoint makes.
    ordersByCustomer: (customerId: number, limit: number) =>
      guardRead("ordersByCustomer", () =>
        db.select().from(facts).where(eq(facts.customerId, customerId)).orderBy(desc(facts.creationDate), desc(facts.orderId)).limit(limit).all().map(toFact),
      ),

    // The same scan, from the cursor on: one pass over the table a page.
    customerOrders: (customerId: number, query: CustomerOrdersQuery) =>
      guardRead("customerOrders", (): FactPage => {
        const filters: SQL[] = [eq(facts.customerId, customerId)];
        if (query.cursor) {
          const after = decodeOrderCursor(query.cursor);
          filters.push(or(lt(facts.creationDate, after.creationDate), and(eq(facts.creationDate, after.creationDate), lt(facts.orderId, after.orderId)))!);
        }
        const rows = db.select().from(facts).where(and(...filters)).orderBy(desc(facts.creationDate), desc(facts.orderId)).limit(query.limit + 1).all().map(toFact);
        const items = rows.slice(0, query.limit);
        return { items, next: rows.length > query.limit ? encodeOrderCursor(items[items.length - 1]!) : null };
      }),

    putDeadLetters: (records: DeadLetterInput[], nextRetryAt: string | null) =>
      guard("putDeadLetters", () => {
        if (records.length === 0) return;
        const updatedAt = now().toISOString();
        const put = handle.prepare(PUT_DEAD_LETTER);
        db.transaction(() => {
          for (const r of records) {
            put.run(r.id, r.reason, JSON.stringify(r.details ?? null), r.original, r.topic, r.subscription, r.message_id, r.type, r.business_key,
              r.seen_at, r.seen_at, r.reason === "unmatched_order" ? nextRetryAt : null, updatedAt);
          }
        }, { behavior: "immediate" });
      }),

    listDeadLetters: (query: DeadLetterQuery) =>
      guardRead("listDeadLetters", (): DeadLetterPage => {
        const filters: SQL[] = [];
        if (query.status) filters.push(eq(deadLetters.status, query.status));
        if (query.reason) filters.push(eq(deadLetters.reason, query.reason));
        const total = db.select({ n: count() }).from(deadLetters).where(and(...filters)).get()!.n;
        if (query.cursor) {
          const [firstSeen, id] = decodeCursor(query.cursor);
          filters.push(or(lt(deadLetters.firstSeen, firstSeen), and(eq(deadLetters.firstSeen, firstSeen), lt(deadLetters.id, id)))!);
        }
        const rows = db
          .select()
          .from(deadLetters)
          .where(and(...filters))
          .orderBy(desc(deadLetters.firstSeen), desc(deadLetters.id))
          .limit(query.limit + 1)
          .all()
          .map(toRecord);
        const items = rows.slice(0, query.limit);
        return { items, total, next: rows.length > query.limit ? encodeCursor(items[items.length - 1]!) : null };
      }),

    getDeadLetter: (id: string) =>
      guardRead("getDeadLetter", () => {
        const row = db.select().from(deadLetters).where(eq(deadLetters.id, id)).get();
        return row ? toRecord(row) : null;
      }),

    updateDeadLetters: (updates: DeadLetterUpdate[]) =>
      guard("updateDeadLetters", () => {
        const updatedAt = now().toISOString();
        const update = handle.prepare(UPDATE_DEAD_LETTER);
        db.transaction(() => {
          for (const u of updates) {
            update.run(updatedAt, u.status ?? null, u.attempts ?? null, u.last_seen ?? null, u.next_retry_at === undefined ? 0 : 1, u.next_retry_at ?? null, u.id);
          }
        }, { behavior: "immediate" });
      }),

    dueDeadLetters: (reason: DeadLetterReason, nowIso: string, limit: number) =>
      guardRead("dueDeadLetters", () =>
        db
          .select()
          .from(deadLetters)
          .where(and(eq(deadLetters.reason, reason), eq(deadLetters.status, "pending"), isNotNull(deadLetters.nextRetryAt), lte(deadLetters.nextRetryAt, nowIso)))
          .orderBy(asc(deadLetters.nextRetryAt))
          .limit(limit)
          .all()
          .map(toRecord),
      ),

    deadLetterCounts: () =>
      guardRead("deadLetterCounts", () => {
        const counts = Object.fromEntries(DEAD_LETTER_STATUSES.map((s) => [s, 0])) as Record<DeadLetterStatus, number>;
        for (const r of db.select({ status: deadLetters.status, n: count() }).from(deadLetters).groupBy(deadLetters.status).all()) {
          counts[r.status as DeadLetterStatus] = r.n;
        }
        return counts;
      }),

    ping: () => guardRead("ping", () => void db.get(sql`SELECT 1`)),
    migrate: () => guard("migrate", () => [{ action: "applied" as const, resource: "sqlite schema (at open, PRAGMA user_version)" }]),
    checkSchema: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

/** Number of fact rows and of rows carrying a payment (tests, /status). */
export function factTotals(db: Db): { facts: number; paid: number } {
  const row = db.select({ facts: count(), paid: count(facts.paymentId) }).from(facts).get()!;
  return { facts: row.facts, paid: row.paid };
}
