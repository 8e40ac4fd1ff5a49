// The store contract: written once, run against every Store implementation (SQLite, Cassandra, DynamoDB).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DeadLetterInput, Order, Payment } from "../../src/domain/model.ts";
import { customerPage } from "../../src/store/order-cursor.ts";
import type { DuplicateCharge, Store } from "../../src/store/types.ts";

const order = (id: number, over: Partial<Order> = {}): Order => ({
  order_id: id,
  customer_id: 7,
  item: "Laptop",
  quantity: 2,
  price: 10.5,
  shipping_address: "1 Main St",
  order_status: "pending",
  creation_date: `2026-01-01T00:00:${String(id % 60).padStart(2, "0")}.000Z`,
  ...over,
});
const payment = (id: number, orderId: number, over: Partial<Payment> = {}): Payment => ({
  payment_id: id,
  order_id: orderId,
  payment_method: "credit_card",
  card_last_four: "4242",
  payment_status: "completed",
  payment_datetime: "2026-01-01T00:01:00.000Z",
  ...over,
});
const dead = (id: string, seenAt: string, over: Partial<DeadLetterInput> = {}): DeadLetterInput => ({
  id,
  reason: "invalid",
  details: ["quantity: too small"],
  original: `{"order_id":1,"n":"${id}"}`,
  topic: "orders",
  subscription: "order",
  message_id: `m-${id}`,
  type: "order",
  business_key: "1",
  seen_at: seenAt,
  ...over,
});

/** Runs the contract; `make` returns a store on an empty schema, `cleanup` (optional) removes what it made. */
export function storeContract(name: string, make: () => Promise<Store>, cleanup?: () => Promise<void>) {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await make();
    });
    if (cleanup) afterAll(cleanup);

    test("upsertOrders then getFact returns the row with null payment fields", async () => {
      await store.upsertOrders([order(101), order(102, { item: "Phone", price: 99 })]);
      expect(await store.getFact(101)).toEqual({ ...order(101), payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null });
      expect((await store.getFact(102))!.item).toBe("Phone");
      expect(await store.getFact(999_999)).toBeNull();
    });

    test("applyPayments sets the payment on existing orders only and creates no row", async () => {
      await store.upsertOrders([order(201)]);
      expect(await store.applyPayments([payment(1, 201), payment(2, 202_202)])).toEqual(["applied", "unmatched"]);
      const fact = await store.getFact(201);
      expect(fact).toMatchObject({ payment_id: 1, card_last_four: "4242", payment_status: "completed" });
      expect(await store.getFact(202_202)).toBeNull();
    });

    test("upsertOrders after a payment keeps the payment columns; writes are idempotent", async () => {
      await store.upsertOrders([order(301)]);
      await store.applyPayments([payment(31, 301)]);
      await store.upsertOrders([order(301, { order_status: "shipped" })]);
      await store.upsertOrders([order(301, { order_status: "shipped" })]);
      expect(await store.applyPayments([payment(31, 301)])).toEqual(["applied"]);
      expect(await store.getFact(301)).toMatchObject({ order_status: "shipped", payment_id: 31, payment_method: "credit_card" });
    });

    test("a second completed payment for an order is a duplicate charge: the first stays on the row", async () => {
      await store.upsertOrders([order(501, { price: 12.5, quantity: 3 })]);
      expect(await store.applyPayments([payment(51, 501)])).toEqual(["applied"]);
      const dup: DuplicateCharge = { outcome: "duplicate_charge", kept_payment_id: 51, price: 12.5, quantity: 3 };
      expect(await store.applyPayments([payment(52, 501, { card_last_four: "1111" })])).toEqual([dup]);
      expect(await store.getFact(501)).toMatchObject({ payment_id: 51, card_last_four: "4242", payment_status: "completed" });
      // The same payment again is applied as before (idempotent), not a duplicate of itself.
      expect(await store.applyPayments([payment(51, 501)])).toEqual(["applied"]);
      // A failed second payment after a completed one does not replace it either.
      expect(await store.applyPayments([payment(53, 501, { payment_status: "failed" })])).toEqual([{ ...dup }]);
      expect((await store.getFact(501))!.payment_id).toBe(51);
    });

    test("a payment after one that is not completed replaces it, as a retry should; one call decides in input order", async () => {
      await store.upsertOrders([order(601), order(602)]);
      expect(await store.applyPayments([payment(61, 601, { payment_status: "failed" })])).toEqual(["applied"]);
      expect(await store.applyPayments([payment(62, 601, { payment_status: "pending" })])).toEqual(["applied"]);
      expect(await store.applyPayments([payment(63, 601, { card_last_four: "0063" })])).toEqual(["applied"]);
      expect(await store.getFact(601)).toMatchObject({ payment_id: 63, card_last_four: "0063", payment_status: "completed" });
      // Failed then completed then completed, all in one call: the first completed one stays.
      const outcomes = await store.applyPayments([
        payment(64, 602, { payment_status: "failed" }), payment(65, 602), payment(66, 602, { card_last_four: "0066" }),
      ]);
      const dup: DuplicateCharge = { outcome: "duplicate_charge", kept_payment_id: 65, price: 10.5, quantity: 2 };
      expect(outcomes).toEqual(["applied", "applied", dup]);
      expect(await store.getFact(602)).toMatchObject({ payment_id: 65, card_last_four: "4242", payment_status: "completed" });
    });

    test("ordersByCustomer lists newest creation_date first", async () => {
      await store.upsertOrders([order(401, { customer_id: 4242, creation_date: "2026-02-01T00:00:00.000Z" }), order(402, { customer_id: 4242, creation_date: "2026-03-01T00:00:00.000Z" }), order(403, { customer_id: 4242, creation_date: "2026-01-01T00:00:00.000Z" })]);
      expect((await store.ordersByCustomer(4242, 10)).map((f) => f.order_id)).toEqual([402, 401, 403]);
      expect((await store.ordersByCustomer(4242, 2)).map((f) => f.order_id)).toEqual([402, 401]);
    });

    test("a customer's orders page by page (GET /customers/:id/orders): newest first, payment columns from the fact rows", async () => {
      await store.upsertOrders([order(411, { customer_id: 4252, creation_date: "2026-02-01T00:00:00.000Z" }), order(412, { customer_id: 4252, creation_date: "2026-03-01T00:00:00.000Z" }), order(413, { customer_id: 4252, creation_date: "2026-01-01T00:00:00.000Z" })]);
      await store.upsertOrders([order(414, { customer_id: 4253, creation_date: "2026-04-01T00:00:00.000Z" })]);
      expect(await store.applyPayments([payment(51, 411)])).toEqual(["applied"]);
      const all = await customerPage(store, 4252, { limit: 10 });
      expect(all.items.map((f) => f.order_id)).toEqual([412, 411, 413]);
      expect(all.next).toBeNull();
      expect(all.items[1]).toEqual((await store.getFact(411))!);
      expect(all.items[1]).toMatchObject({ payment_id: 51, card_last_four: "4242", payment_status: "completed" });
      expect(all.items[0]).toMatchObject({ payment_id: null, payment_status: null });
      const first = await customerPage(store, 4252, { limit: 2 });
      expect(first.items.map((f) => f.order_id)).toEqual([412, 411]);
      expect(typeof first.next).toBe("string");
      expect(await customerPage(store, 4252, { limit: 2, cursor: first.next! })).toEqual({ items: [all.items[2]!], next: null });
      expect(await customerPage(store, 777_777, { limit: 5 })).toEqual({ items: [], next: null });
      await expect(customerPage(store, 4252, { limit: 2, cursor: "not-a-cursor" })).rejects.toMatchObject({ name: "StoreError", retryable: false });
    });

    test("putDeadLetters inserts pending records and merges repeats", async () => {
      await store.putDeadLetters([dead("c.1", "2026-05-01T00:00:00.000Z"), dead("c.2", "2026-05-01T00:00:01.000Z", { reason: "unmatched_order", type: "payment" })], "2026-05-01T00:00:05.000Z");
      await store.putDeadLetters([dead("c.1", "2026-05-01T00:00:09.000Z", { details: ["again"] })], null);
      const one = await store.getDeadLetter("c.1");
      expect(one).toMatchObject({ id: "c.1", reason: "invalid", attempts: 2, status: "pending", first_seen: "2026-05-01T00:00:00.000Z", last_seen: "2026-05-01T00:00:09.000Z", details: ["again"], next_retry_at: null });
      expect(await store.getDeadLetter("c.2")).toMatchObject({ attempts: 1, next_retry_at: "2026-05-01T00:00:05.000Z", reason: "unmatched_order" });
      expect(await store.getDeadLetter("nope")).toBeNull();
    });

    test("listDeadLetters filters, counts and pages newest first without gaps or repeats", async () => {
      const inputs = Array.from({ length: 7 }, (_, i) => dead(`p.${i}`, `2026-06-0${1 + (i % 3)}T00:00:0${i}.000Z`, { reason: i % 2 ? "malformed" : "invalid" }));
      await store.putDeadLetters(inputs, null);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listDeadLetters({ status: "pending", reason: "invalid", limit: 2, cursor });
        expect(page.total).toBe(5); // p.0 p.2 p.4 p.6 and c.1 from the test before
        seen.push(...page.items.map((r) => r.id));
        cursor = page.next ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(["p.2", "p.4", "p.6", "p.0", "c.1"]);
      const malformed = await store.listDeadLetters({ reason: "malformed", limit: 100 });
      expect(malformed.items.map((r) => r.id).sort()).toEqual(["p.1", "p.3", "p.5"]);
      expect(malformed.next).toBeNull();
    });

    test("updateDeadLetters, dueDeadLetters and deadLetterCounts agree", async () => {
      await store.putDeadLetters([dead("d.1", "2026-07-01T00:00:00.000Z", { reason: "unmatched_order" }), dead("d.2", "2026-07-01T00:00:01.000Z", { reason: "unmatched_order" })], "2026-07-01T00:00:10.000Z");
      const before = await store.deadLetterCounts();
      const ours = (rs: { id: string }[]) => rs.map((r) => r.id).filter((id) => id.startsWith("d."));
      expect(ours(await store.dueDeadLetters("unmatched_order", "2026-07-01T00:00:09.000Z", 10))).toEqual([]);
      expect(ours(await store.dueDeadLetters("unmatched_order", "2026-07-01T00:00:10.000Z", 10)).sort()).toEqual(["d.1", "d.2"]);
      await store.updateDeadLetters([{ id: "d.1", status: "reconciled", next_retry_at: null }, { id: "d.2", attempts: 5, next_retry_at: "2026-07-02T00:00:00.000Z" }, { id: "missing" }]);
      expect(await store.getDeadLetter("d.1")).toMatchObject({ status: "reconciled", next_retry_at: null });
      expect(await store.getDeadLetter("d.2")).toMatchObject({ status: "pending", attempts: 5, next_retry_at: "2026-07-02T00:00:00.000Z" });
      expect(ours(await store.dueDeadLetters("unmatched_order", "2026-07-01T12:00:00.000Z", 10))).toEqual([]);
      const after = await store.deadLetterCounts();
      expect(after.reconciled).toBe(before.reconciled + 1);
      expect(after.pending).toBe(before.pending - 1);
      expect(Object.keys(after).sort()).toEqual(["discarded", "pending", "reconciled", "replayed"]);
    });

    test("ping answers", async () => {
      await store.ping();
    });
  });
}
