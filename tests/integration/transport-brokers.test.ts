// The SNS+SQS and Pub/Sub transports against real servers (moto, the Pub/Sub emulator): provisioning, fan-out,
// redelivery, dead-lettering, no loss on close, batch limits. Every test uses its own resource names, so suites
// of other engineers sharing the servers are not disturbed (no global reset).
// moto quirk: every SendMessage (SNS fan-out included) scans the whole queue, so filling a queue costs O(depth^2)
// and moto tops out at a few hundred messages/s: volume tests publish to the queue-less alerts topic, or consume
// while publishing.
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import type { AwsConfig, PubsubConfig } from "../../src/config/types.ts";
import { createPubsubTransport, PUBLISH_TIMEOUT_MS, RETRY_DELAY_MAX_MS } from "../../src/transport/pubsub/index.ts";
import { createSnsSqsTransport, type TransportLogger } from "../../src/transport/sns-sqs/index.ts";
import {
  TransportError,
  type Delivery,
  type OutgoingMessage,
  type Outcome,
  type ProvisionStep,
  type SubscribeOptions,
  type Subscriber,
  type SubscriptionName,
  type TopicName,
  type Transport,
} from "../../src/transport/types.ts";
import { spawnCaptured } from "../helpers/ecom.ts";
import { startProxy } from "../helpers/proxy.ts";
import { moto, pubsubEmulator, SERVICES, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

// moto accepts any signature; the SDK's default chain just needs something to sign with.
process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

const motoUp = await serviceAvailable("moto");
const pubsubUp = await serviceAvailable("pubsub");
const contractPath = new URL("../contract/transport.contract.ts", import.meta.url).pathname;

const SLOW = 120_000;
// The contract's tests carry no timeout of their own; broker round trips need more than bun's default 5 s.
setDefaultTimeout(300_000);
const ACK: Outcome = { kind: "ack" };
const RETRY: Outcome = { kind: "retry" };

function uniquePrefix(): string {
  return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

function awsConfig(overrides: Partial<AwsConfig> = {}): AwsConfig {
  const p = uniquePrefix();
  return {
    region: "us-east-1",
    snsEndpoint: moto.endpoint,
    sqsEndpoint: moto.endpoint,
    maxReceiveCount: 3,
    // moto's ReceiveMessage is not atomic across its threads: two concurrent polls of one queue can both take the
    // same message (seen: one message delivered twice in the same millisecond, attempts 1 and 2). Exact-count
    // tests therefore poll each queue once at a time; the volume test runs several pollers and compares id sets.
    pollers: 1,
    waitTimeSeconds: 2,
    // Long enough that a loaded machine never lets a lease lapse mid-test (that would redeliver: at-least-once).
    visibilityTimeoutSeconds: 30,
    rawDelivery: true,
    topics: { orders: `${p}_orders_topic`, payments: `${p}_payments_topic`, deadletters: `${p}_dlq_topic`, alerts: `${p}_alerts` },
    queues: { order: `${p}_order_queue`, analytics: `${p}_analytics_queue`, payment: `${p}_payment_queue`, dlq: `${p}_dlq_queue` },
    ...overrides,
  };
}

function pubsubConfig(overrides: Partial<PubsubConfig> = {}): PubsubConfig {
  const p = uniquePrefix();
  return {
    projectId: "ecom-test",
    emulatorHost: pubsubEmulator.host,
    maxDeliveryAttempts: 5,
    ackDeadlineSeconds: 30,
    maxMessages: 1000,
    streams: 5,
    ordering: false,
    topics: { orders: `${p}-orders`, payments: `${p}-payments`, deadletters: `${p}-dlq`, alerts: `${p}-alerts` },
    subscriptions: { order: `${p}-orders-sub`, analytics: `${p}-orders-analytics-sub`, payment: `${p}-payments-sub`, dlq: `${p}-dlq-sub` },
    ...overrides,
  };
}

// ---------------------------------------------------------------- helpers

function message(topic: TopicName, n: number, prefix: string = topic): OutgoingMessage {
  const id = `${prefix}-${n}`;
  return { id, topic, body: JSON.stringify({ id, type: topic, n }), attributes: { type: topic } };
}

function messages(topic: TopicName, count: number, prefix: string = topic): OutgoingMessage[] {
  return Array.from({ length: count }, (_, n) => message(topic, n, prefix));
}

const idOf = (d: Delivery): string => (JSON.parse(d.body) as { id: string }).id;
const sortedIds = (list: { id: string }[] | Delivery[]): string[] =>
  list.map((x) => ("body" in x ? idOf(x) : x.id)).sort();

interface Consumer {
  deliveries: Delivery[];
  batches: number[];
  subscriber: Subscriber;
}

function consume(
  transport: Transport,
  subscription: SubscriptionName,
  decide: (d: Delivery) => Outcome = () => ACK,
  options: SubscribeOptions = { maxBatch: 100 },
): Consumer {
  const consumer: Consumer = { deliveries: [], batches: [], subscriber: undefined as unknown as Subscriber };
  consumer.subscriber = transport.subscribe(
    subscription,
    async (batch) => {
      consumer.batches.push(batch.length);
      consumer.deliveries.push(...batch);
      return batch.map(decide);
    },
    options,
  );
  return consumer;
}

interface Warnings {
  messages: string[];
}
function captureLogger(): { logger: TransportLogger; warnings: Warnings } {
  const warnings: Warnings = { messages: [] };
  const push = (obj: object, msg?: string) => warnings.messages.push(`${msg ?? ""} ${JSON.stringify(obj)}`);
  return { logger: { debug() {}, info() {}, warn: push, error: push }, warnings };
}

/** One test's world: an admin transport that provisioned (and tears down) fresh names, plus tracked clients. */
interface World<C> {
  config: C;
  admin: Transport;
  open(overrides?: Partial<C>): Transport;
}

interface Harness<C> {
  name: string;
  /** Deliveries of a message that keeps failing before the broker dead-letters it. */
  maxAttempts: number;
  /** Messages for the volume test: moto handles a few hundred per second at best. */
  volume: number;
  /** Overrides for the volume test (several concurrent pollers where the transport has them). */
  volumeOverrides: Partial<C>;
  /** Overrides giving messages a short lease (visibility timeout / ack deadline). */
  shortLease: Partial<C>;
  config(overrides?: Partial<C>): C;
  create(config: C, logger?: TransportLogger): Transport;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Consumers first (they stop polling), then the admin that tears the names down.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world<C>(h: Harness<C>, overrides: Partial<C> = {}, provision = true): Promise<World<C>> {
  const config = h.config(overrides);
  const admin = h.create(config);
  cleanups.push(async () => {
    await admin.teardown();
    await admin.close();
  });
  if (provision) await admin.provision();
  return {
    config,
    admin,
    open(extra: Partial<C> = {}) {
      const transport = h.create({ ...config, ...extra });
      cleanups.push(() => transport.close());
      return transport;
    },
  };
}

// ---------------------------------------------------------------- behaviour shared by both brokers

function brokerBehaviour<C>(h: Harness<C>): void {
  test("publishing before provision fails every message, not retryable, naming `ecom provision`", async () => {
    const w = await world(h, {}, false);
    const batch = messages("orders", 3);
    const result = await w.open().publish(batch);
    expect(result.failed.map((f) => f.id).sort()).toEqual(sortedIds(batch));
    for (const { error } of result.failed) {
      expect(error).toBeInstanceOf(TransportError);
      expect(error.retryable).toBe(false);
      expect(error.message).toContain("run `ecom provision`");
    }
  }, SLOW);

  test("fan-out: every order reaches order and analytics exactly once; payments reach only payment", async () => {
    const w = await world(h);
    const producer = w.open();
    const orders = messages("orders", 120);
    const payments = messages("payments", 40);
    expect((await producer.publish([...orders, ...payments])).failed).toEqual([]);

    const consumer = w.open();
    const order = consume(consumer, "order", () => ACK, { maxBatch: 50, concurrency: 2 });
    const analytics = consume(consumer, "analytics");
    const payment = consume(consumer, "payment");
    await waitFor("orders on both subscriptions", () => order.deliveries.length >= 120 && analytics.deliveries.length >= 120);
    await waitFor("payments", () => payment.deliveries.length >= 40);

    expect(sortedIds(order.deliveries)).toEqual(sortedIds(orders));
    expect(sortedIds(analytics.deliveries)).toEqual(sortedIds(orders));
    expect(sortedIds(payment.deliveries)).toEqual(sortedIds(payments));
    expect(Math.max(...order.batches)).toBeLessThanOrEqual(50);
    expect(order.deliveries.every((d) => d.attempt === 1 && d.attributes.type === "orders")).toBe(true);
    expect(order.deliveries.every((d) => d.deadLetterSource === undefined && d.messageId.length > 0)).toBe(true);
  }, SLOW);

  test("retry: a nacked delivery comes back with attempt counting up, then stays acked", async () => {
    const w = await world(h);
    await w.open().publish([message("payments", 1)]);
    const attempts: number[] = [];
    const payment = consume(w.open(), "payment", (d) => {
      attempts.push(d.attempt);
      return d.attempt < 3 ? RETRY : ACK;
    });
    await waitFor("third attempt", () => attempts.length >= 3);
    await payment.subscriber.close();
    expect(attempts).toEqual([1, 2, 3]);
  }, SLOW);

  test("retry with delayMs is not redelivered before the delay", async () => {
    const w = await world(h);
    await w.open().publish([message("payments", 1)]);
    const seenAt: number[] = [];
    consume(w.open(), "payment", () => {
      seenAt.push(Date.now());
      return seenAt.length === 1 ? { kind: "retry", delayMs: 2_000 } : ACK;
    });
    await waitFor("redelivery", () => seenAt.length >= 2);
    expect(seenAt[1]! - seenAt[0]!).toBeGreaterThanOrEqual(1_900);
  }, SLOW);

  test("after max attempts the broker moves the message to dlq with deadLetterSource; app dead letters have none", async () => {
    const w = await world(h);
    const producer = w.open();
    const poison = message("payments", 7, "poison");
    await producer.publish([poison, message("deadletters", 1, "app-dead-letter")]);
    const attempts: number[] = [];
    const consumer = w.open();
    consume(consumer, "payment", (d) => {
      attempts.push(d.attempt);
      return RETRY;
    });
    const dlq = consume(consumer, "dlq");
    await waitFor("both dead letters", () => dlq.deliveries.length >= 2);

    expect(attempts).toEqual(Array.from({ length: h.maxAttempts }, (_, i) => i + 1));
    const byId = new Map(dlq.deliveries.map((d) => [idOf(d), d]));
    expect([...byId.keys()].sort()).toEqual(["app-dead-letter-1", "poison-7"]);
    expect(byId.get("poison-7")!.deadLetterSource).toBe("payment");
    expect(byId.get("poison-7")!.body).toBe(poison.body);
    expect(byId.get("app-dead-letter-1")!.deadLetterSource).toBeUndefined();
    expect(dlq.deliveries.length).toBe(2);
  }, SLOW);

  test("close() without acking loses nothing: a new subscriber gets every message", async () => {
    // Short leases: a receive cut off by close() may have taken messages that only come back after it.
    const w = await world(h, h.shortLease);
    const sent = messages("orders", 30);
    await w.open().publish(sent);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seenByFirst: Delivery[] = [];
    const first = w.open().subscribe("order", async (batch) => {
      seenByFirst.push(...batch);
      await gate;
      return batch.map(() => RETRY);
    }, { maxBatch: 5 });
    await waitFor("first subscriber holding a batch", () => seenByFirst.length > 0);
    const closing = first.close();
    release();
    await closing;
    expect(seenByFirst.length).toBe(5);

    const second = consume(w.open(), "order");
    await waitFor("every message redelivered", () => new Set(second.deliveries.map(idOf)).size >= 30, { timeoutMs: 60_000 });
    expect([...new Set(second.deliveries.map(idOf))].sort()).toEqual(sortedIds(sent));
  }, SLOW);

  test("a publish of 2500 messages is confirmed in full (split by the broker's batch limits)", async () => {
    const w = await world(h);
    // The alerts topic has no queue behind it, so this measures the publish path alone (see moto's quirk above).
    const result = await w.open().publish(messages("alerts", 2500));
    expect(result.failed).toEqual([]);
  }, SLOW);

  test("bodies of 100 KiB are split into batches by bytes and all confirmed", async () => {
    const w = await world(h);
    const padding = "x".repeat(100 * 1024);
    const big = Array.from({ length: 12 }, (_, n) => ({ ...message("alerts", n), body: JSON.stringify({ id: `alerts-${n}`, padding }) }));
    const result = await w.open().publish(big);
    expect(result.failed).toEqual([]);
  }, SLOW);

  test(`${h.volume} orders published while both consumers run: each consumer gets every one`, async () => {
    const w = await world(h, h.volumeOverrides);
    const consumer = w.open();
    const order = consume(consumer, "order", () => ACK, { maxBatch: 500, concurrency: 2 });
    const analytics = consume(consumer, "analytics", () => ACK, { maxBatch: 500 });
    const sent = messages("orders", h.volume);
    expect((await w.open().publish(sent)).failed).toEqual([]);
    const unique = (c: Consumer) => new Set(c.deliveries.map(idOf));
    await waitFor("every order on both", () => unique(order).size >= h.volume && unique(analytics).size >= h.volume, { timeoutMs: 90_000 });
    expect([...unique(order)].sort()).toEqual(sortedIds(sent));
    expect([...unique(analytics)].sort()).toEqual(sortedIds(sent));
    expect(Math.max(...order.batches)).toBeLessThanOrEqual(500);
  }, SLOW);

  test("a subscriber started before provision keeps retrying, then consumes once resources exist", async () => {
    const w = await world(h, {}, false);
    const { logger, warnings } = captureLogger();
    const consumer = h.create(w.config, logger);
    cleanups.push(() => consumer.close());
    const order = consume(consumer, "order");
    await waitFor("a logged receive failure", () => warnings.messages.length > 0);
    expect(warnings.messages.join("\n")).toContain("ecom provision");
    await w.admin.provision();
    await w.open().publish([message("orders", 1)]);
    await waitFor("delivery after provision", () => order.deliveries.length >= 1, { timeoutMs: 60_000 });
    expect(order.deliveries.map(idOf)).toEqual(["orders-1"]);
  }, SLOW);

  test("ping answers; close() is idempotent and refuses new subscriptions", async () => {
    const w = await world(h, {}, false);
    const transport = w.open();
    await transport.ping();
    await Promise.all([transport.close(), transport.close()]);
    expect(() => transport.subscribe("order", async () => [], { maxBatch: 1 })).toThrow(TransportError);
  }, SLOW);
}

// ---------------------------------------------------------------- SNS + SQS

const snsHarness: Harness<AwsConfig> = {
  name: "sns-sqs",
  maxAttempts: 3,
  volume: 300,
  volumeOverrides: { pollers: 4 },
  shortLease: { visibilityTimeoutSeconds: 5 },
  config: awsConfig,
  create: (config, logger) => createSnsSqsTransport(config, { logger }),
};

describe.skipIf(!motoUp)("sns-sqs transport (moto)", () => {
  test("provision creates topics, queues, redrive DLQs and subscriptions; twice = all exist; teardown removes them", async () => {
    const w = await world(snsHarness, {}, false);
    const { topics: t, queues: q } = w.config;
    const first = await w.admin.provision();
    const created = (resource: string): ProvisionStep => ({ resource, action: "created" });
    expect(first).toEqual([
      ...[t.orders, t.payments, t.deadletters, t.alerts].map((name) => created(`sns topic ${name}`)),
      created(`sqs queue ${q.order}_dlq`),
      created(`sqs queue ${q.order}`),
      created(`sns subscription ${t.orders} -> ${q.order}`),
      created(`sqs queue ${q.analytics}_dlq`),
      created(`sqs queue ${q.analytics}`),
      created(`sns subscription ${t.orders} -> ${q.analytics}`),
      created(`sqs queue ${q.payment}_dlq`),
      created(`sqs queue ${q.payment}`),
      created(`sns subscription ${t.payments} -> ${q.payment}`),
      created(`sqs queue ${q.dlq}`),
      created(`sns subscription ${t.deadletters} -> ${q.dlq}`),
    ]);
    const second = await w.admin.provision();
    expect(second.map((s) => s.resource)).toEqual(first.map((s) => s.resource));
    expect(new Set(second.map((s) => s.action))).toEqual(new Set(["exists"]));

    // A drifted setting is put back and reported as updated.
    const changed = snsHarness.create({ ...w.config, maxReceiveCount: 9, rawDelivery: false });
    const third = await changed.provision();
    await changed.close();
    expect(third.filter((s) => s.action === "updated").map((s) => s.resource)).toEqual([
      `sqs queue ${q.order}`,
      `sns subscription ${t.orders} -> ${q.order}`,
      `sqs queue ${q.analytics}`,
      `sns subscription ${t.orders} -> ${q.analytics}`,
      `sqs queue ${q.payment}`,
      `sns subscription ${t.payments} -> ${q.payment}`,
      `sns subscription ${t.deadletters} -> ${q.dlq}`,
    ]);

    const removed = await w.admin.teardown();
    expect(removed.filter((s) => s.action === "deleted").length).toBe(4 + 4 + 7);
    const again = await w.admin.teardown();
    expect(new Set(again.map((s) => s.action))).toEqual(new Set(["absent"]));
    expect(again.length).toBe(4 + 7);
  }, SLOW);

  test("raw delivery off: the body is the SNS envelope, attributes come from inside it", async () => {
    const w = await world(snsHarness, { rawDelivery: false });
    const sent = message("orders", 1);
    await w.open().publish([sent]);
    const order = consume(w.open(), "order");
    await waitFor("envelope delivery", () => order.deliveries.length >= 1);
    const envelope = JSON.parse(order.deliveries[0]!.body) as { Type: string; Message: string; TopicArn: string };
    expect(envelope.Type).toBe("Notification");
    expect(envelope.Message).toBe(sent.body);
    expect(envelope.TopicArn.endsWith(`:${w.config.topics.orders}`)).toBe(true);
    expect(order.deliveries[0]!.attributes).toEqual({ type: "orders" });
  }, SLOW);

  test("close() while idle in a 20 s long poll returns at once; a message published just after reaches the next subscriber", async () => {
    // Before, close() waited out the long poll (20 s + 5 s), past the process's 8 s shutdown grace.
    const w = await world(snsHarness, { waitTimeSeconds: 20, visibilityTimeoutSeconds: 5 });
    const transport = w.open();
    const first = consume(transport, "order");
    await w.open().publish([message("orders", 1)]);
    await waitFor("the first delivery (the pollers are running)", () => first.deliveries.length >= 1);
    const started = performance.now();
    await transport.close();
    const closeMs = performance.now() - started;
    expect(closeMs).toBeLessThan(4_000);
    // A poll cut off client-side may still take this one on the server: then it is back after the 5 s lease.
    await w.open().publish([message("orders", 2)]);
    const next = consume(w.open(), "order");
    await waitFor("the message published after the close", () => next.deliveries.some((d) => idOf(d) === "orders-2"), { timeoutMs: 30_000 });
    expect(first.deliveries.map(idOf)).toEqual(["orders-1"]);
    expect(next.deliveries.map(idOf)).toEqual(["orders-2"]);
  }, SLOW);

  test("ping against a port nobody listens on rejects with a retryable TransportError", async () => {
    const dead = createSnsSqsTransport(awsConfig({ snsEndpoint: "http://127.0.0.1:1", sqsEndpoint: "http://127.0.0.1:1" }), { maxAttempts: 1 });
    cleanups.push(() => dead.close());
    const error = await dead.ping().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).retryable).toBe(true);
  }, SLOW);

  test("--sqs-max-backlog: batches are admitted in publish order up to the limit; the rest come back deferred, then go once consumers drain", async () => {
    const w = await world(snsHarness, { maxBacklog: 20 });
    const publisher = w.open();
    // o0, p0, o1, p1, ...: PublishBatch groups them per topic in tens (o0-o9, p0-p9, o10-o19, ...).
    const sent = Array.from({ length: 30 }, (_, i) => [message("orders", i, "o"), message("payments", i, "p")]).flat();
    const first = await publisher.publish(sent);
    const deferred = first.failed.map((f) => f.id);
    // o0-o19 and p0-p19 fill both topics' queues to the limit; o20-o29 wait and, from there on, p20-p29 wait behind them.
    const tail = (prefix: string) => Array.from({ length: 10 }, (_, i) => `${prefix}-${20 + i}`);
    expect(deferred.sort()).toEqual([...tail("o"), ...tail("p")].sort());
    for (const f of first.failed) {
      expect(f.error.deferred).toBe(true);
      expect(f.error.retryable).toBe(true);
      expect(f.error.message).toContain("--sqs-max-backlog=20");
    }
    const consumer = w.open();
    const order = consume(consumer, "order");
    const analytics = consume(consumer, "analytics");
    const payment = consume(consumer, "payment");
    let rest = sent.filter((m) => deferred.includes(m.id));
    await waitFor("the deferred messages published once the queues drained", async () => {
      const { failed } = await publisher.publish(rest);
      expect(failed.every((f) => f.error.deferred)).toBe(true);
      rest = rest.filter((m) => failed.some((f) => f.id === m.id));
      return rest.length === 0;
    });
    await waitFor("every message consumed", () => order.deliveries.length >= 30 && analytics.deliveries.length >= 30 && payment.deliveries.length >= 30);
    const orderIds = sent.filter((m) => m.topic === "orders").map((m) => m.id).sort();
    expect([...new Set(order.deliveries.map(idOf))].sort()).toEqual(orderIds);
    expect([...new Set(analytics.deliveries.map(idOf))].sort()).toEqual(orderIds);
    expect([...new Set(payment.deliveries.map(idOf))].sort()).toEqual(sent.filter((m) => m.topic === "payments").map((m) => m.id).sort());
  }, SLOW);

  test("--sqs-max-backlog never holds dead letters back, even over the limit or behind held orders", async () => {
    const w = await world(snsHarness, { maxBacklog: 10 });
    const publisher = w.open();
    expect((await publisher.publish(messages("deadletters", 30, "d1"))).failed).toEqual([]);
    const mixed = await publisher.publish([...messages("orders", 30, "o"), ...messages("deadletters", 30, "d2")]);
    expect(mixed.failed.map((f) => f.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `o-${10 + i}`).sort());
    expect(mixed.failed.every((f) => f.error.deferred)).toBe(true);
    const dlq = consume(w.open(), "dlq");
    await waitFor("all 60 dead letters consumed", () => new Set(dlq.deliveries.map(idOf)).size === 60);
  }, SLOW);

  brokerBehaviour(snsHarness);
});

// ---------------------------------------------------------------- Pub/Sub

/** tests/helpers/pubsub-holder.ts in a process of its own: a subscriber that can be killed for real. */
function subscriberProcess(config: PubsubConfig, subscription: SubscriptionName, mode: "hold" | "ack") {
  const script = new URL("../helpers/pubsub-holder.ts", import.meta.url).pathname;
  return spawnCaptured([process.execPath, script, JSON.stringify(config), subscription, mode]);
}

const pubsubHarness: Harness<PubsubConfig> = {
  name: "pubsub",
  maxAttempts: 5,
  volume: 2500,
  volumeOverrides: {},
  shortLease: { ackDeadlineSeconds: 10 },
  config: pubsubConfig,
  create: (config, logger) => createPubsubTransport(config, { logger }),
};

describe.skipIf(!pubsubUp)("pubsub transport (emulator)", () => {
  test("an endpoint nobody listens on: the subscriber warns naming it (the client retries silently), provision fails in one short line", async () => {
    const { logger, warnings } = captureLogger();
    const dead = createPubsubTransport(pubsubConfig({ emulatorHost: "127.0.0.1:1" }), { logger });
    cleanups.push(() => dead.close());
    dead.subscribe("order", async (batch) => batch.map(() => ACK), { maxBatch: 10 });
    await waitFor("a warning about the stream", () => warnings.messages.length > 0);
    expect(warnings.messages[0]).toContain('pubsub subscriber stream failed; the client retries it {"subscription":"order","error":"Pub/Sub streaming pull from');
    expect(warnings.messages[0]).toContain("at 127.0.0.1:1: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1\"}");
    const error = await dead.provision().then(() => null, (e: unknown) => e as TransportError);
    expect(error).toBeInstanceOf(TransportError);
    expect(error!.message).toBe("provision Pub/Sub: cannot reach 127.0.0.1:1 (--pubsub-endpoint or PUBSUB_EMULATOR_HOST): 14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1");
  }, SLOW);

  test("provision creates topics and subscriptions; twice = all exist; teardown removes them", async () => {
    const w = await world(pubsubHarness, {}, false);
    const { topics: t, subscriptions: s } = w.config;
    const first = await w.admin.provision();
    const created = (resource: string): ProvisionStep => ({ resource, action: "created" });
    expect(first).toEqual([
      ...[t.orders, t.payments, t.deadletters, t.alerts].map((name) => created(`pubsub topic ${name}`)),
      ...[s.order, s.analytics, s.payment, s.dlq].map((name) => created(`pubsub subscription ${name}`)),
    ]);
    const second = await w.admin.provision();
    expect(second.map((x) => x.resource)).toEqual(first.map((x) => x.resource));
    expect(new Set(second.map((x) => x.action))).toEqual(new Set(["exists"]));

    const changed = pubsubHarness.create({ ...w.config, maxDeliveryAttempts: 7 });
    const third = await changed.provision();
    await changed.close();
    expect(third.filter((x) => x.action === "updated").map((x) => x.resource)).toEqual(
      [s.order, s.analytics, s.payment].map((name) => `pubsub subscription ${name}`),
    );

    const removed = await w.admin.teardown();
    expect(new Set(removed.map((x) => x.action))).toEqual(new Set(["deleted"]));
    expect(removed.length).toBe(8);
    const again = await w.admin.teardown();
    expect(new Set(again.map((x) => x.action))).toEqual(new Set(["absent"]));
  }, SLOW);

  test("the configured emulator host wins over PUBSUB_EMULATOR_HOST", async () => {
    const saved = process.env.PUBSUB_EMULATOR_HOST;
    process.env.PUBSUB_EMULATOR_HOST = "127.0.0.1:1";
    try {
      const transport = pubsubHarness.create(pubsubConfig());
      cleanups.push(() => transport.close());
      await transport.ping();
    } finally {
      if (saved === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
      else process.env.PUBSUB_EMULATOR_HOST = saved;
    }
  }, SLOW);

  test("ordering keys: messages of one key arrive in publish order", async () => {
    const w = await world(pubsubHarness, { ordering: true });
    const sent = messages("orders", 50).map((m) => ({ ...m, orderingKey: "customer-1" }));
    expect((await w.open().publish(sent)).failed).toEqual([]);
    const order = consume(w.open(), "order");
    await waitFor("50 ordered deliveries", () => order.deliveries.length >= 50);
    expect(order.deliveries.map(idOf)).toEqual(sent.map((m) => m.id));
  }, SLOW);

  test("broker away: a publish settles as a retryable failure within its timeout plus one retry delay", async () => {
    // The client's default retry delays grow to 60 s and run past the timeout: measured, a publish begun at the
    // cut settled 16-65 s later (5 of 6 runs past 18 s), holding the relay well after the broker was back.
    const proxy = await startProxy(SERVICES.pubsub.port);
    try {
      const w = await world(pubsubHarness);
      const transport = w.open({ emulatorHost: `127.0.0.1:${proxy.port}` });
      expect((await transport.publish(messages("orders", 1, "before"))).failed).toEqual([]);
      await proxy.cut();
      const cutAt = Date.now();
      // One publish per topic: four retry schedules of their own, each must settle in time.
      const topics: TopicName[] = ["orders", "payments", "deadletters", "alerts"];
      const settled = await Promise.all(
        topics.map(async (topic) => ({ topic, result: await transport.publish(messages(topic, 1, "during")), ms: Date.now() - cutAt })),
      );
      for (const { topic, result, ms } of settled) {
        expect({ topic, failed: result.failed.map((f) => ({ id: f.id, retryable: f.error.retryable })) }).toEqual({ topic, failed: [{ id: "during-0", retryable: true }] });
        // 1.5 s for a loaded machine's event loop.
        expect(ms).toBeLessThan(PUBLISH_TIMEOUT_MS + RETRY_DELAY_MAX_MS + 1_500);
      }
      await proxy.restore();
      expect((await transport.publish(messages("orders", 1, "after"))).failed).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, SLOW);

  test("a subscriber killed while holding messages: a new subscriber gets every one within about one ack deadline", async () => {
    // The lease of a held message is extended in steps of the ack deadline, so after a kill -9 its messages are free
    // again within one deadline. Emulator 0.8.20 as shipped fails this (scripts/pubsub-emulator-fix): the killed
    // subscriber's streams stay registered and swallow redeliveries (measured: 16.6-29.9 s or never, in 15 of 22 runs).
    const w = await world(pubsubHarness, { ackDeadlineSeconds: 10 });
    const sent = messages("orders", 60, "held");
    expect((await w.open().publish(sent)).failed).toEqual([]);
    const holder = subscriberProcess(w.config, "order", "hold");
    try {
      await waitFor("the holder holds all 60", () => holder.output().includes("got 60\n"), { timeoutMs: 60_000 });
    } finally {
      await holder.kill9();
    }
    const killedAt = Date.now();
    const taker = subscriberProcess(w.config, "order", "ack");
    try {
      await waitFor("all 60 at a new subscriber", () => taker.output().includes("got 60\n"), { timeoutMs: 15_000, intervalMs: 100 });
      console.info(`pubsub: 60 held messages reached a new subscriber ${Date.now() - killedAt} ms after the holder was killed`);
    } finally {
      await taker.kill9();
    }
  }, SLOW);

  brokerBehaviour(pubsubHarness);
});

// ---------------------------------------------------------------- the shared transport contract

if (existsSync(contractPath)) {
  const { transportContract } = (await import(contractPath)) as typeof import("../contract/transport.contract.ts");
  // The contract keeps one transport for all its tests: its names are torn down once the file is done.
  const contractCleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of contractCleanups.splice(0).reverse()) await cleanup();
  });
  const contractRun = <C>(h: Harness<C>, attempts: (config: C) => number) => {
    transportContract(`${h.name} (contract)`, async () => {
      const config = h.config();
      const admin = h.create(config);
      contractCleanups.push(async () => {
        await admin.teardown();
        await admin.close();
      });
      await admin.provision();
      return { transport: h.create(config), maxAttempts: attempts(config) };
    }, { timeoutMs: 60_000 });
  };
  // The contract publishes 2500 messages into one queue before consuming: moto needs ~2 min to take them and then
  // receives ~5 msg/s from a queue that deep (it rescans the queue per message), so that run is opt-in.
  if (motoUp && process.env.ECOM_MOTO_CONTRACT === "1") contractRun(snsHarness, (config) => config.maxReceiveCount);
  else if (motoUp) console.warn("SKIP: transport contract on moto (its 2500-message backlog takes moto >10 min); set ECOM_MOTO_CONTRACT=1 to run it");
  if (pubsubUp) contractRun(pubsubHarness, (config) => config.maxDeliveryAttempts);
}
