// Fact rows and their query tables: orders upserted, payments set on the order they name, reads by order and customer.
import cassandra from "cassandra-driver";
import type { Fact, Order, Payment } from "../../domain/model.ts";
import { describeIds } from "../describe.ts";
import type { PaymentOutcome } from "../types.ts";
import { replicaChunks, roundsByKey, type Routed } from "./batches.ts";
import { keyBytes, long, num, numOrNull, toFact } from "./rows.ts";
import type { Session } from "./session.ts";
import type { Cql } from "./statements.ts";

const { types } = cassandra;

/** Order keys per `IN` query (keys of one replica): ~45 us of server CPU per key against ~100 us read alone. */
const KEYS_PER_READ = 50;
/**
 * Orders this store has written (and Cassandra confirmed) whose keys it remembers, so that a payment for one of them
 * skips the key read: in a process running the order and payment roles together that is every payment whose order came
 * first, and the read is ~45 us of server CPU per payment (a third of a payment's cost). Oldest forgotten first; ~100
 * bytes an entry.
 */
export const KNOWN_ORDERS = 200_000;

/**
 * What applyPayments needs of a fact row: its orders_by_customer key (as read: a column may be null on a row written
 * by hand), the amount, and the payment it holds (decides a duplicate charge).
 */
type OrderKey = {
  customer_id: unknown;
  creation_date: unknown;
  price: number;
  quantity: number;
  payment_id: number | null;
  payment_status: string | null;
};

export class Facts {
  /**
   * order_id → its orders_by_customer key, for orders written through this store (see KNOWN_ORDERS). Only a write
   * Cassandra confirmed enters it, so an entry means the fact row exists; the key is the latest this store wrote (an
   * order is stored once per inbox retention, so its key does not change under it).
   */
  private readonly knownOrders = new Map<number, OrderKey>();

  constructor(
    private readonly session: Session,
    private readonly cql: Cql,
  ) {}

  async upsertOrders(orders: Order[]): Promise<void> {
    for (const round of roundsByKey(orders, (o) => [o.order_id])) {
      const what = `upsert of ${describeIds("order", round.map((o) => o.order_id))}`;
      await this.session.writeRouted(what, round.flatMap((o) => this.orderStatements(o)));
      for (const o of round) {
        // Order columns only: the payment this store knows the row holds stays known.
        const had = this.knownOrders.get(o.order_id);
        const payment = { payment_id: had?.payment_id ?? null, payment_status: had?.payment_status ?? null };
        const key = { customer_id: long(o.customer_id), creation_date: o.creation_date };
        this.remember(o.order_id, { ...key, price: o.price, quantity: o.quantity, ...payment });
      }
    }
  }

  private remember(orderId: number, key: OrderKey): void {
    const known = this.knownOrders;
    known.delete(orderId);
    known.set(orderId, key);
    if (known.size > KNOWN_ORDERS) known.delete(known.keys().next().value!);
  }

  /** The order columns only (payment columns untouched), plus its orders_by_customer entry. */
  private orderStatements(o: Order): Routed[] {
    const values = [o.item, long(o.quantity), o.price, o.shipping_address, o.order_status];
    const [orderId, customerId] = [long(o.order_id), long(o.customer_id)];
    const fact = [orderId, customerId, ...values, o.creation_date];
    return [
      { query: this.cql.insertFact, params: fact, partition: `f${o.order_id}`, key: orderId },
      {
        query: this.cql.insertByCustomer,
        params: [customerId, o.creation_date, orderId, ...values],
        partition: `c${o.customer_id}`,
        key: customerId,
      },
    ];
  }

  /**
   * Reads the key and payment of every order the payments name, then decides each payment in input order: unmatched
   * when its order is absent, a duplicate charge when the row holds another completed payment (recorded in
   * payments_by_id only), else set on the fact row and query tables (written in input order: the last one wins). The
   * decision rests on that read (or on what this store wrote), not on a lightweight transaction: a second payment
   * written by another process at the same moment is not seen (Paxos would cost several round trips per payment).
   */
  async applyPayments(payments: Payment[]): Promise<PaymentOutcome[]> {
    const read = await this.orderKeys([...new Set(payments.map((p) => p.order_id))]);
    const state = new Map([...read].map(([id, key]) => [id, { ...key }]));
    const applied: Payment[] = [];
    const charged: Payment[] = [];
    const outcomes = payments.map((p): PaymentOutcome => {
      const row = state.get(p.order_id);
      if (!row) return "unmatched";
      if (row.payment_id !== null && row.payment_id !== p.payment_id && row.payment_status === "completed") {
        charged.push(p);
        const amount = { price: row.price, quantity: row.quantity };
        return { outcome: "duplicate_charge", kept_payment_id: row.payment_id, ...amount };
      }
      applied.push(p);
      // The key a statement carries is read before this payment changes the row's state.
      row.payment_id = p.payment_id;
      row.payment_status = p.payment_status;
      return "applied";
    });
    for (const round of roundsByKey(applied, (p) => [`o${p.order_id}`, `p${p.payment_id}`])) {
      const statements = round.flatMap((p) => this.paymentStatements(p, state.get(p.order_id)!));
      await this.session.writeRouted(describeIds("payment", round.map((p) => p.payment_id)), statements);
    }
    if (charged.length) {
      const statements = charged.map((p) => this.paymentByIdStatement(p));
      const what = describeIds("payment", charged.map((p) => p.payment_id));
      for (const round of roundsByKey(statements, (st) => [st.partition])) await this.session.writeRouted(what, round);
    }
    for (const p of applied) if (this.knownOrders.has(p.order_id)) this.remember(p.order_id, state.get(p.order_id)!);
    return outcomes;
  }

  /**
   * order_id → the fact row's key, amount and payment, for the orders that exist: the ones this store wrote from
   * memory, the others by one `IN` read per KEYS_PER_READ keys owned by the same replica, sent to that replica.
   */
  private async orderKeys(orderIds: number[]): Promise<Map<number, OrderKey>> {
    const keys = new Map<number, OrderKey>();
    const unknown: number[] = [];
    for (const id of orderIds) {
      const key = this.knownOrders.get(id);
      if (key) keys.set(id, key);
      else unknown.push(id);
    }
    if (!unknown.length) return keys;
    const ids = unknown.map((id) => long(id));
    const chunks = replicaChunks(ids, this.session.replicas(), KEYS_PER_READ);
    const pages = await Promise.all(
      chunks.map((chunk) =>
        this.session.read(`read of ${describeIds("order", chunk.map(num))}`, this.cql.selectOrderKeys, [chunk], {
          routingKey: keyBytes(chunk[0]!),
          fetchSize: chunk.length + 1,
        }),
      ),
    );
    for (const page of pages) {
      for (const row of page.rows) {
        keys.set(num(row.order_id), {
          customer_id: row.customer_id,
          creation_date: row.creation_date,
          price: Number(row.price),
          quantity: num(row.quantity),
          payment_id: numOrNull(row.payment_id),
          payment_status: row.payment_status ?? null,
        });
      }
    }
    return keys;
  }

  private paymentByIdStatement(p: Payment): Routed {
    const [paymentId, orderId] = [long(p.payment_id), long(p.order_id)];
    const params = [paymentId, orderId, p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime];
    return { query: this.cql.insertPaymentById, params, partition: `p${p.payment_id}`, key: paymentId };
  }

  private paymentStatements(p: Payment, order: OrderKey): Routed[] {
    const [paymentId, orderId] = [long(p.payment_id), long(p.order_id)];
    const fields = [paymentId, p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime];
    const statements: Routed[] = [
      { query: this.cql.updateFactPayment, params: [...fields, orderId], partition: `f${p.order_id}`, key: orderId },
      this.paymentByIdStatement(p),
    ];
    // orders_by_customer carries the order's columns only (SPEC §6): its listing reads payments from the fact rows.
    void order;
    return statements;
  }

  async getFact(orderId: number): Promise<Fact | null> {
    const row = (await this.session.read(`read of order ${orderId}`, this.cql.selectFact, [long(orderId)])).first();
    return row ? toFact(row) : null;
  }

  /**
   * Walks orders_by_customer newest first and returns the fact rows; an entry the fact row disagrees with
   * (the order was re-sent with another customer or creation_date) is stale and skipped.
   */
  async ordersByCustomer(customerId: number, limit: number): Promise<Fact[]> {
    const facts: Fact[] = [];
    if (limit < 1) return facts;
    const what = `orders of customer ${customerId}`;
    for await (const rows of this.session.pages(what, this.cql.selectCustomerOrders, [long(customerId)], limit)) {
      const found = await Promise.all(rows.map((r) => this.getFact(num(r.order_id))));
      rows.forEach((r, i) => {
        const fact = found[i];
        const current = fact && fact.customer_id === customerId && fact.creation_date === r.creation_date;
        if (current && facts.length < limit) facts.push(fact);
      });
      if (facts.length >= limit) break;
    }
    return facts;
  }
}
