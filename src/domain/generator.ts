// The seeded mock generator of the producer role: the same seed gives the same stream, index by index.
import type { Order, Payment } from "./model.ts";

/** mulberry32: tiny, fast, good enough for mock data; seeded per index so any index is reproducible alone. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ITEMS = ["Laptop", "Phone", "Headphones", "Monitor", "Keyboard", "Mouse", "Tablet", "Camera", "Printer", "Speaker", "Charger", "Backpack"];
const PRICES = [1299.99, 799, 149.5, 329, 89.9, 39.99, 499, 649, 219, 119, 25, 79.95];
const STATUSES = ["pending", "processing", "shipped", "delivered"];
const METHODS = ["credit_card", "debit_card", "paypal", "apple_pay", "bank_transfer"];
const PAY_STATUSES = ["completed", "completed", "completed", "pending", "failed"];
const STREETS = ["Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln", "Elm St", "Lake View", "Hill Rd"];
const CITIES = ["Springfield", "Riverton", "Lakewood", "Fairview", "Georgetown", "Salem", "Franklin", "Madison"];

/** Ids of payments whose order never exists start here, far above any generated order id. */
export const UNMATCHED_ORDER_BASE = 900_000_000_000;
const BASE_TIME = Date.UTC(2026, 0, 1);

const pick = <T>(r: () => number, list: readonly T[]) => list[Math.floor(r() * list.length)]!;

export interface GeneratorOptions {
  seed: number;
  unmatchedRatio: number;
  duplicateRatio: number;
}

/** Order number `i` (1-based): order_id = i. */
export function orderAt(seed: number, i: number): Order {
  const r = rng(seed * 1_000_003 + i * 2);
  const k = Math.floor(r() * ITEMS.length);
  const quantity = 1 + Math.floor(r() * (r() < 0.05 ? 20 : 4));
  return {
    order_id: i,
    customer_id: 1 + Math.floor(r() * 5000),
    item: ITEMS[k]!,
    quantity,
    price: PRICES[k]!,
    shipping_address: `${1 + Math.floor(r() * 999)} ${pick(r, STREETS)}, ${pick(r, CITIES)}`,
    order_status: pick(r, STATUSES),
    creation_date: new Date(BASE_TIME + i * 1000).toISOString(),
  };
}

/** Payment number `j` (1-based): payment_id = j, for order j, or for an order that never exists. */
export function paymentAt(opts: GeneratorOptions, j: number): Payment {
  const r = rng(opts.seed * 1_000_003 + j * 2 + 1);
  const unmatched = r() < opts.unmatchedRatio;
  return {
    payment_id: j,
    order_id: unmatched ? UNMATCHED_ORDER_BASE + j : j,
    payment_method: pick(r, METHODS),
    card_last_four: String(Math.floor(r() * 10000)).padStart(4, "0"),
    payment_status: pick(r, PAY_STATUSES),
    payment_datetime: new Date(BASE_TIME + j * 1000 + 500).toISOString(),
  };
}

/** Whether message `n` of the stream (0-based) is published twice. */
export function isDuplicated(opts: GeneratorOptions, n: number): boolean {
  return rng(opts.seed * 7919 + n * 3 + 2)() < opts.duplicateRatio;
}

export type Generated = { type: "order"; data: Order } | { type: "payment"; data: Payment };

/**
 * Stream position `n` (0-based) → the record it publishes: orders and payments alternate while both have
 * budget (order i, then payment i), then the rest of whichever has more.
 */
export function streamAt(opts: GeneratorOptions, n: number, orders: number | null, payments: number | null): Generated | null {
  const o = orders ?? Infinity;
  const p = payments ?? Infinity;
  const both = Math.min(o, p);
  if (n < 2 * both) {
    const i = Math.floor(n / 2) + 1;
    return n % 2 === 0 ? { type: "order", data: orderAt(opts.seed, i) } : { type: "payment", data: paymentAt(opts, i) };
  }
  const rest = n - 2 * both;
  if (o > both && rest < o - both) return { type: "order", data: orderAt(opts.seed, both + rest + 1) };
  if (p > both && rest < p - both) return { type: "payment", data: paymentAt(opts, both + rest + 1) };
  return null;
}
