// What a seeded producer run must end with, computed from the same generator the binary uses.
import { isDuplicated, streamAt, UNMATCHED_ORDER_BASE, type GeneratorOptions } from "../../src/domain/generator.ts";
import type { Payment } from "../../src/domain/model.ts";

export interface Expected {
  orders: number;
  payments: Payment[];
  unmatchedIds: number[];
  matched: Payment[];
  duplicatedOrders: number;
  duplicatedPayments: number;
}

export function expectedRun(opts: GeneratorOptions, orders: number, payments: number): Expected {
  const all: Payment[] = [];
  let duplicatedOrders = 0;
  let duplicatedPayments = 0;
  for (let n = 0; ; n++) {
    const rec = streamAt(opts, n, orders, payments);
    if (!rec) break;
    const dup = isDuplicated(opts, n);
    if (rec.type === "payment") {
      all.push(rec.data);
      if (dup) duplicatedPayments++;
    } else if (dup) duplicatedOrders++;
  }
  const unmatched = all.filter((p) => p.order_id >= UNMATCHED_ORDER_BASE);
  return {
    orders,
    payments: all,
    unmatchedIds: unmatched.map((p) => p.payment_id).sort((a, b) => a - b),
    matched: all.filter((p) => p.order_id < UNMATCHED_ORDER_BASE),
    duplicatedOrders,
    duplicatedPayments,
  };
}
