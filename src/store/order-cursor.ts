// The cursor of GET /customers/:customer_id/orders: the last listed order's (creation_date, order_id), opaque to clients.
import type { Fact } from "../domain/model.ts";
import { StoreError, type CustomerOrdersQuery, type FactPage, type Store } from "./types.ts";

export interface OrderPosition {
  creationDate: string;
  orderId: number;
}

/** base64url of `[creation_date, order_id]` of the last item of a page: the next page starts after it (keyset). */
export const encodeOrderCursor = (f: Pick<Fact, "creation_date" | "order_id">): string =>
  Buffer.from(JSON.stringify([f.creation_date, f.order_id])).toString("base64url");

/** The position a cursor names; a cursor this API did not hand out is refused (non-retryable, the API answers 400). */
export function decodeOrderCursor(cursor: string): OrderPosition {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && Number.isSafeInteger(value[1]) && value[1] >= 0) {
      return { creationDate: value[0], orderId: value[1] };
    }
  } catch {}
  throw new StoreError(`cursor ${JSON.stringify(cursor.slice(0, 40))} is not one this API returned`, false);
}

/** The newest orders a store without its own page query (customerOrders) is listed over. */
export const FALLBACK_LISTING = 1000;

/**
 * A page of GET /customers/:customer_id/orders: the store's own page query when it has one, else a page cut from its
 * `ordersByCustomer` listing of the customer's newest FALLBACK_LISTING orders (same order, same cursor).
 */
export async function customerPage(store: Store, customerId: number, query: CustomerOrdersQuery): Promise<FactPage> {
  if (store.customerOrders) return store.customerOrders(customerId, query);
  const after = query.cursor ? decodeOrderCursor(query.cursor) : null;
  const newest = await store.ordersByCustomer(customerId, FALLBACK_LISTING);
  const rest = after
    ? newest.filter((f) => f.creation_date < after.creationDate || (f.creation_date === after.creationDate && f.order_id < after.orderId))
    : newest;
  const items = rest.slice(0, query.limit);
  return { items, next: rest.length > query.limit ? encodeOrderCursor(items[items.length - 1]!) : null };
}
