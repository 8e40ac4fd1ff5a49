// Fact items: orders written in BatchWriteItem chunks, payments matched with one conditional UpdateItem each.
import { GetItemCommand, QueryCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import type { Fact, Order, Payment } from "../../domain/model.ts";
import { decodeOrderCursor, encodeOrderCursor } from "../order-cursor.ts";
import type { CustomerOrdersQuery, FactPage, PaymentOutcome } from "../types.ts";
import { lastPerKey, roundsByKey, type Requests } from "./batches.ts";
import { describeIds } from "../describe.ts";
import { isConditionFailed } from "./errors.ts";
import { orderAttributes, orderKey, paymentAttributes, paymentItem, toFact, type Item } from "./items.ts";
import { INDEX, type TableNames } from "./names.ts";

/**
 * Orders this store has written (and DynamoDB confirmed), so that writing one again skips the existence read; ~100
 * bytes an entry, oldest forgotten first.
 */
export const KNOWN_ORDERS = 200_000;


/** `SET #a0 = :a0, ...` over the attributes of `item` except `skip` (names go through placeholders: ITEM is reserved). */
function setExpression(item: Item, skip: string[] = []) {
  const names: Record<string, string> = {};
  const values: Item = {};
  const parts: string[] = [];
  Object.entries(item).forEach(([name, value], i) => {
    if (skip.includes(name)) return;
    names[`#a${i}`] = name;
    values[`:a${i}`] = value;
    parts.push(`#a${i} = :a${i}`);
  });
  return { UpdateExpression: `SET ${parts.join(", ")}`, ExpressionAttributeNames: names, ExpressionAttributeValues: values };
}

export class Facts {
  private readonly knownOrders = new Set<number>();

  constructor(
    private readonly req: Requests,
    private readonly tables: TableNames,
    /** The API's lane (getFact, ordersByCustomer). */
    private readonly reads: Requests = req,
  ) {}

  private remember(orderId: number): void {
    const known = this.knownOrders;
    known.delete(orderId);
    known.add(orderId);
    if (known.size > KNOWN_ORDERS) known.delete(known.values().next().value!);
  }

  /**
   * A BatchWriteItem Put replaces the whole item, so it would clear the payment of an order written again (a
   * redelivery after a crash, an order re-sent): orders already stored take an UpdateItem of their order columns
   * instead. Which exist is known for orders this store wrote, and read for the others (one BatchGetItem of keys
   * per 100 orders, strongly consistent). New orders, every order of a normal run, go in Puts of 25 per request.
   * A window stays: two writers of the same new order at once (a duplicate delivered to two consumers together), a
   * payment landing between their two Puts is cleared by the second; the payment role's look-ups and the dlq role's
   * retries do not see it again. Closing it would cost a conditional write per order.
   */
  async upsertOrders(orders: Order[]): Promise<void> {
    if (orders.length === 0) return;
    const unique = lastPerKey(orders, (o) => o.order_id);
    const what = `upsert of ${describeIds("order", unique.map((o) => o.order_id))}`;
    const stored = new Set(unique.filter((o) => this.knownOrders.has(o.order_id)).map((o) => o.order_id));
    const unknown = unique.filter((o) => !stored.has(o.order_id));
    if (unknown.length) {
      const found = await this.req.batchGet(`read of ${describeIds("order", unknown.map((o) => o.order_id))}`, this.tables.facts, unknown.map((o) => orderKey(o.order_id)), ["order_id"]);
      for (const item of found) stored.add(Number(item.order_id!.N));
    }
    const fresh = unique.filter((o) => !stored.has(o.order_id));
    const again = unique.filter((o) => stored.has(o.order_id));
    const client = this.req.client;
    await Promise.all([
      this.req.batchWrite(what, this.tables.facts, fresh.map((o) => ({ PutRequest: { Item: orderAttributes(o) } }))),
      ...again.map((o) =>
        this.req.send(what, () => client.send(new UpdateItemCommand({ TableName: this.tables.facts, Key: orderKey(o.order_id), ...setExpression(orderAttributes(o), ["order_id"]) }))),
      ),
    ]);
    for (const o of unique) this.remember(o.order_id);
  }

  /**
   * Sets each payment on its order's fact item with one UpdateItem conditioned on the order existing and not holding
   * another completed payment, so no read comes first. A failed condition hands back the item as it is
   * (ReturnValuesOnConditionCheckFailure): none means the order is absent (unmatched), one means a duplicate charge,
   * recorded in payments_by_id without touching the fact. Applied and duplicate payments are then recorded in
   * payments_by_id (BatchWriteItem). Two payments of one order are decided in input order.
   */
  async applyPayments(payments: Payment[]): Promise<PaymentOutcome[]> {
    const results: PaymentOutcome[] = payments.map(() => "unmatched");
    const indexed = payments.map((p, i) => ({ p, i }));
    for (const round of roundsByKey(indexed, ({ p }) => [`o${p.order_id}`, `p${p.payment_id}`])) {
      const outcomes = await Promise.all(round.map(({ p }) => this.applyOne(p)));
      round.forEach(({ i }, k) => (results[i] = outcomes[k]!));
      const recorded = round.filter((_, k) => outcomes[k] !== "unmatched").map(({ p }) => p);
      for (const p of recorded) this.remember(p.order_id);
      await this.req.batchWrite(`record of ${describeIds("payment", recorded.map((p) => p.payment_id))}`, this.tables.payments, recorded.map((p) => ({ PutRequest: { Item: paymentItem(p) } })));
    }
    return results;
  }

  private applyOne(p: Payment): Promise<PaymentOutcome> {
    const client = this.req.client;
    const set = setExpression(paymentAttributes(p));
    return this.req.send(`payment ${p.payment_id} of order ${p.order_id}`, async () => {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: this.tables.facts,
            Key: orderKey(p.order_id),
            ...set,
            ExpressionAttributeNames: { ...set.ExpressionAttributeNames, "#pid": "payment_id", "#pst": "payment_status" },
            ExpressionAttributeValues: { ...set.ExpressionAttributeValues, ":pid": { N: String(p.payment_id) }, ":done": { S: "completed" } },
            ConditionExpression: "attribute_exists(order_id) AND (attribute_not_exists(#pid) OR #pid = :pid OR #pst <> :done)",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return "applied";
      } catch (error) {
        if (!isConditionFailed(error)) throw error;
        // DynamoDB (and moto) hand back the item as it was; none means no such order.
        const item = (error as { Item?: Item }).Item;
        if (!item) return "unmatched";
        return { outcome: "duplicate_charge", kept_payment_id: Number(item.payment_id?.N), price: Number(item.price?.N), quantity: Number(item.quantity?.N) };
      }
    });
  }

  async getFact(orderId: number): Promise<Fact | null> {
    const out = await this.reads.send(`read of order ${orderId}`, () =>
      this.reads.client.send(new GetItemCommand({ TableName: this.tables.facts, Key: orderKey(orderId), ConsistentRead: true })),
    );
    return out.Item ? toFact(out.Item as Item) : null;
  }

  /**
   * A Query of the by_customer index (customer_id, creation_date), descending: newest first, reading only that
   * customer's entries. The index holds keys only; the facts are then read by key, and an entry that lags its item
   * (the order re-sent with another customer) is skipped.
   */
  async ordersByCustomer(customerId: number, limit: number): Promise<Fact[]> {
    if (limit < 1) return [];
    const ids: number[] = [];
    let start: Item | undefined;
    do {
      const out = await this.reads.send(`orders of customer ${customerId}`, () =>
        this.reads.client.send(
          new QueryCommand({
            TableName: this.tables.facts,
            IndexName: INDEX.byCustomer,
            KeyConditionExpression: "customer_id = :c",
            ExpressionAttributeValues: { ":c": { N: String(customerId) } },
            ScanIndexForward: false,
            Limit: limit - ids.length,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of out.Items ?? []) ids.push(Number(item.order_id!.N));
      start = out.LastEvaluatedKey as Item | undefined;
    } while (start && ids.length < limit);
    const unique = [...new Set(ids)];
    const found = await this.reads.batchGet(`read of ${describeIds("order", unique)}`, this.tables.facts, unique.map(orderKey));
    const byId = new Map(found.map((item) => [Number(item.order_id!.N), toFact(item)]));
    return unique.flatMap((id) => {
      const fact = byId.get(id);
      return fact && fact.customer_id === customerId ? [fact] : [];
    });
  }

  /** A page of ordersByCustomer's listing, from the cursor's index entry on (GET /customers/:customer_id/orders). */
  async customerOrders(customerId: number, query: CustomerOrdersQuery): Promise<FactPage> {
    const after = query.cursor ? decodeOrderCursor(query.cursor) : null;
    const entries: { order_id: number; creation_date: string }[] = [];
    let start: Item | undefined = after
      ? { customer_id: { N: String(customerId) }, creation_date: { S: after.creationDate }, order_id: { N: String(after.orderId) } }
      : undefined;
    // One entry more than the page: whether a next page exists.
    do {
      const out = await this.reads.send(`orders of customer ${customerId}`, () =>
        this.reads.client.send(
          new QueryCommand({
            TableName: this.tables.facts,
            IndexName: INDEX.byCustomer,
            KeyConditionExpression: "customer_id = :c",
            ExpressionAttributeValues: { ":c": { N: String(customerId) } },
            ScanIndexForward: false,
            Limit: query.limit + 1 - entries.length,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of out.Items ?? []) entries.push({ order_id: Number(item.order_id!.N), creation_date: item.creation_date!.S! });
      start = out.LastEvaluatedKey as Item | undefined;
    } while (start && entries.length <= query.limit);
    const page = entries.slice(0, query.limit);
    const unique = [...new Set(page.map((e) => e.order_id))];
    const found = unique.length ? await this.reads.batchGet(`read of ${describeIds("order", unique)}`, this.tables.facts, unique.map(orderKey)) : [];
    const byId = new Map(found.map((item) => [Number(item.order_id!.N), toFact(item)]));
    const items = unique.flatMap((id) => {
      const fact = byId.get(id);
      return fact && fact.customer_id === customerId ? [fact] : [];
    });
    return { items, next: entries.length > query.limit ? encodeOrderCursor(page[page.length - 1]!) : null };
  }
}
