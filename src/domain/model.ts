// The business records of SPEC §1: orders, payments, the denormalised fact, dead-letter records.

export interface Order {
  order_id: number;
  customer_id: number;
  item: string;
  quantity: number;
  price: number;
  shipping_address: string;
  order_status: string;
  creation_date: string;
}

export interface Payment {
  payment_id: number;
  order_id: number;
  payment_method: string;
  card_last_four: string;
  payment_status: string;
  payment_datetime: string;
}

/** One row of ecom_store.orders_payments_facts: the order plus its payment (null until matched). */
export interface Fact extends Order {
  payment_id: number | null;
  payment_method: string | null;
  card_last_four: string | null;
  payment_status: string | null;
  payment_datetime: string | null;
}

export const ORDER_COLUMNS = [
  "order_id",
  "customer_id",
  "item",
  "quantity",
  "price",
  "shipping_address",
  "order_status",
  "creation_date",
] as const;

export const PAYMENT_COLUMNS = [
  "payment_id",
  "payment_method",
  "card_last_four",
  "payment_status",
  "payment_datetime",
] as const;

export type DeadLetterReason = "malformed" | "invalid" | "unmatched_order" | "max_attempts" | "duplicate_charge";
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ["malformed", "invalid", "unmatched_order", "max_attempts", "duplicate_charge"];
export type DeadLetterStatus = "pending" | "reconciled" | "replayed" | "discarded";
export const DEAD_LETTER_STATUSES: readonly DeadLetterStatus[] = ["pending", "reconciled", "replayed", "discarded"];

/** What a role reports about a message it could not process (carried on the deadletters topic). */
export interface DeadLetterInput {
  /** Stable record id: the same failure of the same business record (or the same bytes) maps to one record. */
  id: string;
  reason: DeadLetterReason;
  /** Validation errors or other explanation (JSON-serialisable). */
  details: unknown;
  /** The original message body, card numbers masked. */
  original: string;
  /** Logical topic the original came from (where replay re-publishes it). */
  topic: string;
  /** Logical subscription that rejected it. */
  subscription: string;
  /** Envelope id of the original if it had one, else the broker id. */
  message_id: string;
  /** `order` | `payment` when known. */
  type: string | null;
  /** order_id / payment_id when known. */
  business_key: string | null;
  /** When the failure was seen (ISO-8601). */
  seen_at: string;
}

/** The durable record the dlq role keeps (SPEC §3). */
export interface DeadLetterRecord {
  id: string;
  reason: DeadLetterReason;
  details: unknown;
  original: string;
  topic: string;
  subscription: string;
  message_id: string;
  type: string | null;
  business_key: string | null;
  /** How many times this failure was seen or retried. */
  attempts: number;
  first_seen: string;
  last_seen: string;
  status: DeadLetterStatus;
  /** When the dlq role next retries it (unmatched_order only), ISO-8601, or null. */
  next_retry_at: string | null;
  updated_at: string;
}
