// The transport contract: written once, run against every Transport (local, SNS+SQS, Pub/Sub).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Delivery, Outcome, OutgoingMessage, Subscriber, SubscriptionName, Transport } from "../../src/transport/types.ts";
import { waitFor } from "../helpers/wait.ts";

export interface TransportUnderTest {
  transport: Transport;
  /** The max delivery attempts the transport was created with. */
  maxAttempts: number;
}

export interface ContractOptions {
  /** Deadline for broker round trips (emulators are slower than SQLite). */
  timeoutMs?: number;
}

const msg = (topic: OutgoingMessage["topic"], tag: string, i: number): OutgoingMessage => ({
  id: `${tag}-${i}`,
  topic,
  body: JSON.stringify({ tag, i }),
  attributes: { tag },
});

/** Collects deliveries of one subscription; `decide` picks each outcome (ack by default). */
function collect(t: Transport, sub: SubscriptionName, decide: (d: Delivery) => Outcome = () => ({ kind: "ack" })) {
  const got: Delivery[] = [];
  const subscriber: Subscriber = t.subscribe(sub, async (batch) => {
    got.push(...batch);
    return batch.map(decide);
  }, { maxBatch: 100 });
  return { got, subscriber };
}

const tagOf = (d: Delivery) => (JSON.parse(d.body) as { tag: string }).tag;

/**
 * `make` returns a transport on provisioned, empty topics and subscriptions (called once per test);
 * `cleanup` closes it.
 */
export function transportContract(name: string, make: () => Promise<TransportUnderTest>, options: ContractOptions = {}) {
  const timeoutMs = options.timeoutMs ?? 20_000;
  describe(`transport contract: ${name}`, () => {
    let t: TransportUnderTest;
    const open: Subscriber[] = [];
    beforeAll(async () => {
      t = await make();
    });
    afterAll(async () => {
      await Promise.all(open.map((s) => s.close()));
      await t?.transport.close();
    });

    test("orders fan out to order and analytics; payments reach only payment", async () => {
      const tag = `fan${Date.now()}`;
      const order = collect(t.transport, "order");
      const analytics = collect(t.transport, "analytics");
      const payment = collect(t.transport, "payment");
      open.push(order.subscriber, analytics.subscriber, payment.subscriber);
      const orders = Array.from({ length: 25 }, (_, i) => msg("orders", tag, i));
      const payments = Array.from({ length: 5 }, (_, i) => msg("payments", `${tag}p`, i));
      expect((await t.transport.publish([...orders, ...payments])).failed).toEqual([]);
      const mine = (ds: Delivery[], tg: string) => ds.filter((d) => tagOf(d) === tg);
      await waitFor("fan-out", () => mine(order.got, tag).length >= 25 && mine(analytics.got, tag).length >= 25 && mine(payment.got, `${tag}p`).length >= 5, { timeoutMs });
      const ids = (ds: Delivery[], tg: string) => [...new Set(mine(ds, tg).map((d) => (JSON.parse(d.body) as { i: number }).i))].sort((a, b) => a - b);
      expect(ids(order.got, tag)).toEqual(orders.map((_, i) => i));
      expect(ids(analytics.got, tag)).toEqual(orders.map((_, i) => i));
      expect(ids(payment.got, `${tag}p`)).toEqual([0, 1, 2, 3, 4]);
      expect(mine(order.got, `${tag}p`)).toEqual([]);
      expect(mine(payment.got, tag)).toEqual([]);
      expect(mine(order.got, tag)[0]!.attributes.tag).toBe(tag);
      await Promise.all([order.subscriber.close(), analytics.subscriber.close(), payment.subscriber.close()]);
    });

    test("a retried message comes back with a higher attempt; after max attempts it reaches dlq with its source", async () => {
      const tag = `retry${Date.now()}`;
      const payment = collect(t.transport, "payment", (d) => (tagOf(d) === tag ? { kind: "retry", delayMs: 0 } : { kind: "ack" }));
      const dlq = collect(t.transport, "dlq");
      open.push(payment.subscriber, dlq.subscriber);
      expect((await t.transport.publish([msg("payments", tag, 0)])).failed).toEqual([]);
      const arrived = await waitFor("dead-lettered after max attempts", () => dlq.got.find((d) => tagOf(d) === tag), { timeoutMs: timeoutMs * 3 });
      expect(arrived.deadLetterSource).toBe("payment");
      const attempts = payment.got.filter((d) => tagOf(d) === tag).map((d) => d.attempt);
      expect(attempts.length).toBe(t.maxAttempts);
      expect(attempts[0]).toBe(1);
      expect(attempts[attempts.length - 1]).toBe(t.maxAttempts);
      await Promise.all([payment.subscriber.close(), dlq.subscriber.close()]);
    });

    test("messages a subscriber never acked are redelivered to the next one", async () => {
      const tag = `crash${Date.now()}`;
      let release: () => void = () => {};
      const held = new Promise<void>((r) => (release = r));
      const seen: Delivery[] = [];
      // This handler never settles its first batch until closed: its messages are in flight, unacked.
      const first = t.transport.subscribe("order", async (batch) => {
        seen.push(...batch);
        await held;
        return batch.map(() => ({ kind: "retry" as const, delayMs: 0 }));
      }, { maxBatch: 100 });
      expect((await t.transport.publish(Array.from({ length: 10 }, (_, i) => msg("orders", tag, i)))).failed).toEqual([]);
      await waitFor("first subscriber got messages", () => seen.some((d) => tagOf(d) === tag), { timeoutMs });
      release();
      await first.close();
      const second = collect(t.transport, "order");
      open.push(second.subscriber);
      await waitFor("redelivered", () => new Set(second.got.filter((d) => tagOf(d) === tag).map((d) => d.body)).size === 10, { timeoutMs: timeoutMs * 2 });
      await second.subscriber.close();
      // Drain analytics copies so later tests start clean.
      const analytics = collect(t.transport, "analytics");
      await waitFor("analytics drained", () => analytics.got.filter((d) => tagOf(d) === tag).length >= 10, { timeoutMs });
      await analytics.subscriber.close();
    });

    test("a publish larger than any broker batch limit is confirmed whole", async () => {
      const tag = `bulk${Date.now()}`;
      const n = 2500;
      const result = await t.transport.publish(Array.from({ length: n }, (_, i) => msg("payments", tag, i)));
      expect(result.failed).toEqual([]);
      const payment = collect(t.transport, "payment");
      open.push(payment.subscriber);
      await waitFor(`${n} delivered`, () => new Set(payment.got.filter((d) => tagOf(d) === tag).map((d) => d.body)).size === n, { timeoutMs: timeoutMs * 3 });
      await payment.subscriber.close();
    });

    test("ping answers", async () => {
      await t.transport.ping();
    });
  });
}
