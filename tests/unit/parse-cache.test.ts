import { expect, test } from "bun:test";
import { ParseCache } from "../../src/roles/consume.ts";
import { parseMessage } from "../../src/domain/validate.ts";

const body = (id: number) => JSON.stringify({ order_id: id, customer_id: 1, item: "pen", quantity: 1, price: 2, shipping_address: "1 Main St", order_status: "created", creation_date: "2026-01-02" });

test("a body parsed again is a lookup with the same result; the limit is part of the key; old entries leave past the capacity", () => {
  const cache = new ParseCache(2);
  const first = cache.parse(body(1), 1000);
  expect(first).toEqual(parseMessage(body(1), 1000));
  expect(first.ok).toBe(true);
  // A different string object with the same text (as a second subscription reads it) hits.
  expect(cache.parse(body(1).slice(0), 1000)).toBe(first);
  expect([cache.hits, cache.misses]).toEqual([1, 1]);
  // Another size limit is parsed on its own: too large under 50 bytes.
  const small = cache.parse(body(1), 50);
  expect(small.ok).toBe(false);
  expect(small.ok ? null : small.errors).toEqual([`body is ${body(1).length} bytes; the limit is 50`]);
  expect([cache.hits, cache.misses]).toEqual([1, 2]);
  cache.parse(body(2), 1000);
  cache.parse(body(3), 1000); // evicts body(1)
  expect(cache.parse(body(1), 50).ok).toBe(false);
  expect([cache.hits, cache.misses]).toEqual([1, 5]);
});
