// Fact rows, payments and dead-letter records as DynamoDB items (attribute names are the fact row's column names).
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { fitOriginal } from "../../domain/cut.ts";
import type { DeadLetterInput, DeadLetterRecord, Fact, Order, Payment } from "../../domain/model.ts";
import { StoreError } from "../types.ts";

export type Item = Record<string, AttributeValue>;

/** DynamoDB's item size limit: 400 KB, attribute names and values together. */
export const ITEM_LIMIT_BYTES = 400 * 1024;
/**
 * What a dead letter is cut to: 9.6 KB below the limit, room for the size estimate's rounding and for servers that
 * count a little more (moto refuses items past 405,000 bytes).
 */
export const DEAD_LETTER_MAX_BYTES = 400_000;

const n = (v: number): AttributeValue => ({ N: String(v) });
const s = (v: string): AttributeValue => ({ S: v });
const NULL: AttributeValue = { NULL: true };
const sOrNull = (v: string | null): AttributeValue => (v === null ? NULL : s(v));

function num(av: AttributeValue | undefined, what: string): number {
  if (av?.N === undefined) throw new StoreError(`dynamodb: item attribute ${what} is not a number`, false);
  return Number(av.N);
}
const numOrNull = (av: AttributeValue | undefined) => (av?.N === undefined ? null : Number(av.N));
const text = (av: AttributeValue | undefined) => av?.S ?? "";
const textOrNull = (av: AttributeValue | undefined) => (av?.S === undefined ? null : av.S);

export const orderKey = (orderId: number): Item => ({ order_id: n(orderId) });

/** The order columns: what upsertOrders writes (a Put of a new item, or the SET of an update). */
export function orderAttributes(o: Order): Item {
  return {
    order_id: n(o.order_id),
    customer_id: n(o.customer_id),
    item: s(o.item),
    quantity: n(o.quantity),
    price: n(o.price),
    shipping_address: s(o.shipping_address),
    order_status: s(o.order_status),
    creation_date: s(o.creation_date),
  };
}

/** The payment columns a matched payment sets on its fact item. */
export function paymentAttributes(p: Payment): Item {
  return {
    payment_id: n(p.payment_id),
    payment_method: s(p.payment_method),
    card_last_four: s(p.card_last_four),
    payment_status: s(p.payment_status),
    payment_datetime: s(p.payment_datetime),
  };
}

/** The payments_by_id item of a payment. */
export const paymentItem = (p: Payment): Item => ({ ...paymentAttributes(p), order_id: n(p.order_id) });

export function toFact(item: Item): Fact {
  return {
    order_id: num(item.order_id, "order_id"),
    customer_id: num(item.customer_id, "customer_id"),
    item: text(item.item),
    quantity: num(item.quantity, "quantity"),
    price: num(item.price, "price"),
    shipping_address: text(item.shipping_address),
    order_status: text(item.order_status),
    creation_date: text(item.creation_date),
    payment_id: numOrNull(item.payment_id),
    payment_method: textOrNull(item.payment_method),
    card_last_four: textOrNull(item.card_last_four),
    payment_status: textOrNull(item.payment_status),
    payment_datetime: textOrNull(item.payment_datetime),
  };
}

/**
 * The sort key of the listing indexes: first_seen, then id. first_seen is a fixed-width ISO-8601 time, so the pair
 * sorts as (first_seen, id) does, which is the listing order of every store (newest first when queried descending).
 */
export const listKey = (r: { first_seen: string; id: string }) => `${r.first_seen}|${r.id}`;

/**
 * A dead-letter record as an item. Attributes that key an index are present only when they have a value: `due_reason`
 * (the reason, set only on a pending record with a next retry) makes the `due` index sparse, so it holds exactly the
 * records the dlq role retries; `next_retry_at` is absent when null (an index key may not be NULL).
 */
export function deadLetterItem(r: DeadLetterRecord): Item {
  const item: Item = {
    id: s(r.id),
    reason: s(r.reason),
    details: s(JSON.stringify(r.details ?? null)),
    original: s(r.original),
    topic: s(r.topic),
    subscription: s(r.subscription),
    message_id: s(r.message_id),
    type: sOrNull(r.type),
    business_key: sOrNull(r.business_key),
    attempts: n(r.attempts),
    first_seen: s(r.first_seen),
    last_seen: s(r.last_seen),
    status: s(r.status),
    updated_at: s(r.updated_at),
    list_key: s(listKey(r)),
  };
  if (r.next_retry_at !== null) item.next_retry_at = s(r.next_retry_at);
  if (r.status === "pending" && r.next_retry_at !== null) item.due_reason = s(r.reason);
  return item;
}

export function toDeadLetter(item: Item): DeadLetterRecord {
  return {
    id: text(item.id),
    reason: text(item.reason) as DeadLetterRecord["reason"],
    details: item.details?.S === undefined ? null : JSON.parse(item.details.S),
    original: text(item.original),
    topic: text(item.topic),
    subscription: text(item.subscription),
    message_id: text(item.message_id),
    type: textOrNull(item.type),
    business_key: textOrNull(item.business_key),
    attempts: num(item.attempts, "attempts"),
    first_seen: text(item.first_seen),
    last_seen: text(item.last_seen),
    status: text(item.status) as DeadLetterRecord["status"],
    next_retry_at: textOrNull(item.next_retry_at),
    updated_at: text(item.updated_at),
  };
}

/**
 * An item's size as DynamoDB counts it: UTF-8 bytes of every attribute name and string, about a byte per two digits
 * of a number plus one, one byte for a NULL or boolean (a few bytes over for a number: this is used to stay under).
 */
export function itemBytes(item: Item): number {
  let total = 0;
  for (const [name, av] of Object.entries(item)) {
    total += Buffer.byteLength(name);
    if (av.S !== undefined) total += Buffer.byteLength(av.S);
    else if (av.N !== undefined) total += Math.ceil(av.N.length / 2) + 1;
    else total += 1;
  }
  return total;
}

/**
 * The record a put of `input` leaves: a new pending one (attempts 1), or the stored one with attempts + 1, last seen,
 * reason, details and original refreshed, pending again, its running retry schedule kept (as every store does).
 */
export function mergeDeadLetter(input: DeadLetterInput, previous: DeadLetterRecord | null, nextRetryAt: string | null, now: string): DeadLetterRecord {
  const retryAt = input.reason === "unmatched_order" ? nextRetryAt : null;
  if (previous) {
    return {
      ...previous,
      reason: input.reason,
      details: input.details,
      original: input.original,
      attempts: previous.attempts + 1,
      last_seen: input.seen_at > previous.last_seen ? input.seen_at : previous.last_seen,
      status: "pending",
      next_retry_at: previous.next_retry_at ?? retryAt,
      updated_at: now,
    };
  }
  return {
    id: input.id,
    reason: input.reason,
    details: input.details,
    original: input.original,
    topic: input.topic,
    subscription: input.subscription,
    message_id: input.message_id,
    type: input.type,
    business_key: input.business_key,
    attempts: 1,
    first_seen: input.seen_at,
    last_seen: input.seen_at,
    status: "pending",
    next_retry_at: retryAt,
    updated_at: now,
  };
}

/**
 * A dead letter that fits one item: one whose original would take the item past DEAD_LETTER_MAX_BYTES has it cut,
 * with a detail giving the kept and whole sizes and the whole original's sha256 (as `ecom produce` cuts for a broker).
 * The cut is kept as stored, so a later retry of the record never meets the limit again.
 */
export function fitDeadLetter(input: DeadLetterInput, nextRetryAt: string | null, now: string): DeadLetterInput {
  const size = (d: DeadLetterInput) => itemBytes(deadLetterItem(mergeDeadLetter(d, null, nextRetryAt, now)));
  return fitOriginal(input, size, DEAD_LETTER_MAX_BYTES, "DynamoDB's 400 KB item limit");
}
