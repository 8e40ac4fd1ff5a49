// Mapping between the domain's records and Cassandra's rows and values (bigint ids as the driver's Long).
import cassandra from "cassandra-driver";
import type { DeadLetterRecord, Fact } from "../../domain/model.ts";

const { types } = cassandra;
export type Row = cassandra.types.Row;
export type Long = cassandra.types.Long;

export const long = (n: number) => types.Long.fromNumber(n);

/** A bigint partition key as the driver serializes it for routing (8 bytes, big-endian). */
export function keyBytes(v: Long): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeInt32BE(v.getHighBits(), 0);
  b.writeInt32BE(v.getLowBits(), 4);
  return b;
}

/** int64 columns hold values within JS's safe-integer range (SPEC §1 ids and quantities). */
export const num = (v: unknown): number => (v instanceof types.Long ? v.toNumber() : Number(v));
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const textOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function toFact(row: Row): Fact {
  return {
    order_id: num(row.order_id),
    customer_id: num(row.customer_id),
    item: row.item,
    quantity: num(row.quantity),
    price: row.price,
    shipping_address: row.shipping_address,
    order_status: row.order_status,
    creation_date: row.creation_date,
    payment_id: numOrNull(row.payment_id),
    payment_method: textOrNull(row.payment_method),
    card_last_four: textOrNull(row.card_last_four),
    payment_status: textOrNull(row.payment_status),
    payment_datetime: textOrNull(row.payment_datetime),
  };
}

export function toDeadLetter(row: Row): DeadLetterRecord {
  return {
    id: row.id,
    reason: row.reason,
    details: row.details === null ? null : JSON.parse(row.details),
    original: row.original,
    topic: row.topic,
    subscription: row.subscription,
    message_id: row.message_id,
    type: textOrNull(row.type),
    business_key: textOrNull(row.business_key),
    attempts: row.attempts,
    first_seen: row.first_seen,
    last_seen: row.last_seen,
    status: row.status,
    next_retry_at: textOrNull(row.next_retry_at),
    updated_at: row.updated_at,
  };
}

/** The values of a dead_letters row, in the column order of insertDeadLetter. */
export function deadLetterValues(r: DeadLetterRecord): unknown[] {
  return [
    r.id, r.reason, r.details === undefined ? null : JSON.stringify(r.details), r.original, r.topic, r.subscription,
    r.message_id, r.type, r.business_key, r.attempts, r.first_seen, r.last_seen, r.status, r.next_retry_at,
    r.updated_at,
  ];
}

/** The latest write time among the record columns its index rows are derived from (null when none is set). */
export function lastWrite(row: Row): Long | null {
  const stamps = [row.w1, row.w2, row.w3].filter((w): w is Long => w instanceof types.Long);
  return stamps.reduce<Long | null>((a, b) => (a === null || b.greaterThan(a) ? b : a), null);
}
