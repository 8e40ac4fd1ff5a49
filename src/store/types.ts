// The store port: where facts and dead-letter records live (SQLite embedded, Cassandra or DynamoDB).
import type { DbHandle } from "../db/open.ts";
import type {
  DeadLetterInput,
  DeadLetterReason,
  DeadLetterRecord,
  DeadLetterStatus,
  Fact,
  Order,
  Payment,
} from "../domain/model.ts";

export interface DeadLetterQuery {
  status?: DeadLetterStatus;
  reason?: DeadLetterReason;
  /** 1..1000 */
  limit: number;
  /** Opaque cursor from a previous page's `next`. */
  cursor?: string;
}

export interface DeadLetterPage {
  items: DeadLetterRecord[];
  /** Number of records matching status/reason (all pages). */
  total: number;
  /** Cursor of the next page, or null when this is the last. */
  next: string | null;
}

export interface CustomerOrdersQuery {
  /** 1..1000 */
  limit: number;
  /** Opaque cursor from a previous page's `next`. */
  cursor?: string;
}

export interface FactPage {
  items: Fact[];
  /** Cursor of the next page, or null when this is the last. */
  next: string | null;
}

export interface DeadLetterUpdate {
  id: string;
  status?: DeadLetterStatus;
  attempts?: number;
  next_retry_at?: string | null;
  last_seen?: string;
}

/**
 * A payment for an order whose fact row already holds a different `completed` payment: the row keeps that one and this
 * one is recorded by payment id only, for an operator to refund.
 */
export interface DuplicateCharge {
  outcome: "duplicate_charge";
  /** The completed payment the fact row keeps. */
  kept_payment_id: number;
  /** The order's price and quantity, so the dead letter can name the amount charged twice. */
  price: number;
  quantity: number;
}

/** What applyPayments did with one payment. */
export type PaymentOutcome = "applied" | "unmatched" | DuplicateCharge;

export const isDuplicateCharge = (o: PaymentOutcome): o is DuplicateCharge => typeof o === "object";

/** What migrate did to one schema object. */
export interface SchemaStep {
  /** `updated`: it existed and something it lacked was added (a DynamoDB index). */
  action: "created" | "exists" | "updated" | "applied";
  resource: string;
  /** What differs from what was asked and was left as it is. */
  note?: string;
}

/** A step as provision, migrate and teardown print it. */
export function stepLine(step: { action: string; resource: string; note?: string }): string {
  return `${step.action.padEnd(8)} ${step.resource}${step.note ? ` (${step.note})` : ""}`;
}

/**
 * Rules every implementation keeps (the store contract suite checks them):
 * - Every write is idempotent: repeating a call with the same input leaves the same state.
 * - `upsertOrders` writes the order columns only: it never clears payment columns already set.
 * - `applyPayments` sets the payment columns of an existing fact row and never creates a row; a row that holds a
 *   `completed` payment with another payment_id keeps it (the new one is a DuplicateCharge, recorded by payment id
 *   where the store has such a table), while a payment following one that is not `completed` replaces it. Payments of
 *   one order in one call are decided in input order.
 * - A promise resolves only once the write is durable in the store; failures reject with a StoreError
 *   (`retryable` for timeouts, unavailability, overload).
 */
export interface Store {
  readonly kind: "sqlite" | "cassandra" | "dynamodb";
  upsertOrders(orders: Order[]): Promise<void>;
  /** One outcome per payment, same order: applied (the row now carries it), unmatched (no such order), or a duplicate. */
  applyPayments(payments: Payment[]): Promise<PaymentOutcome[]>;
  getFact(orderId: number): Promise<Fact | null>;
  /** Orders of one customer, newest creation_date first. */
  ordersByCustomer(customerId: number, limit: number): Promise<Fact[]>;
  /**
   * One customer's fact rows (payment columns from the fact rows), newest creation_date first, then highest order_id;
   * a page of at most `limit`, `next` the cursor of the following page (null on the last). GET
   * /customers/:customer_id/orders; a store without it is paged by the API over `ordersByCustomer` (see customerPage).
   */
  customerOrders?(customerId: number, query: CustomerOrdersQuery): Promise<FactPage>;
  /**
   * Only for a store in the data dir's own SQLite database: `upsertOrders` and `applyPayments`, synchronous, on the
   * caller's open transaction (same connection), so a role commits the effect with its inbox entries, counters and
   * (on the local queue) its ack as one transaction. Throws when no transaction is open. `handle` is the connection it
   * writes on: only a caller on that same connection may use it.
   */
  readonly inTransaction?: {
    readonly handle: DbHandle;
    upsertOrders(orders: Order[]): void;
    applyPayments(payments: Payment[]): PaymentOutcome[];
  };

  /**
   * Insert new dead-letter records as `pending` (attempts 1, first_seen = last_seen = seen_at); for an id
   * that exists: attempts + 1, last_seen = seen_at, status back to `pending`, reason/details/original refreshed.
   * `next_retry_at` of a new `unmatched_order` record is `nextRetryAt` (else null).
   */
  putDeadLetters(records: DeadLetterInput[], nextRetryAt: string | null): Promise<void>;
  /** Newest first_seen first; filters combine. */
  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetterPage>;
  getDeadLetter(id: string): Promise<DeadLetterRecord | null>;
  /** Apply partial updates (unknown ids are ignored); updated_at is set to now. */
  updateDeadLetters(updates: DeadLetterUpdate[]): Promise<void>;
  /** Pending records of `reason` with next_retry_at <= now, oldest next_retry_at first, at most `limit`. */
  dueDeadLetters(reason: DeadLetterReason, now: string, limit: number): Promise<DeadLetterRecord[]>;
  /** Count of records per status (every status present, 0 when none). */
  deadLetterCounts(): Promise<Record<DeadLetterStatus, number>>;

  /** Readiness: resolves when the store answers. */
  ping(): Promise<void>;
  /** Apply the schema idempotently; returns a step per object: created, or found as it was (with a note if it differs). */
  migrate(): Promise<SchemaStep[]>;
  /** Rejects with SchemaMissingError when the schema is not applied. */
  checkSchema(): Promise<void>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  override name = "StoreError";
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, { cause: options?.cause });
  }
}

export class SchemaMissingError extends StoreError {
  override name = "SchemaMissingError";
  constructor(message: string) {
    super(message, false);
  }
}
