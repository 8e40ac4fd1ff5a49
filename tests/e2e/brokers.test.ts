// End to end over real brokers (moto for SNS+SQS, the Pub/Sub emulator) with the Cassandra store, driving ./ecom.
import { afterAll, describe, expect, test } from "bun:test";
import { parseCli } from "../../src/config/cli.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createPubsubTransport } from "../../src/transport/pubsub/index.ts";
import { createSnsSqsTransport } from "../../src/transport/sns-sqs/index.ts";
import type { Transport } from "../../src/transport/types.ts";
import { deadLetterId } from "../../src/domain/validate.ts";
import { orderAt, paymentAt } from "../../src/domain/generator.ts";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { expectedRun } from "../helpers/expected.ts";
import { startProxy, type Proxy } from "../helpers/proxy.ts";
import { SERVICES, serviceAvailable } from "../helpers/services.ts";
import { verifyFinal, waitForCompletion } from "../helpers/verify.ts";
import { waitFor } from "../helpers/wait.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const cassandraUp = await serviceAvailable("cassandra");
const motoUp = await serviceAvailable("moto");
const pubsubUp = await serviceAvailable("pubsub");

const SEED = 11;
// moto serves a few hundred messages/s (its SendMessage scans the queue), so these runs are small.
const N = 300;
const exp = expectedRun({ seed: SEED, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, N, N);
const RUN = [`--orders=${N}`, `--payments=${N}`, "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", `--seed=${SEED}`];

const uid = () => `e${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const keyspaces: string[] = [];

interface Broker {
  name: "sns-sqs" | "pubsub";
  up: boolean;
  target: number;
  /** Flags naming fresh resources and pointing ecom at `port` (the proxy). */
  flags(id: string, port: number): string[];
  /**
   * Flags for a run that lives through a 20 s outage. Pub/Sub spends a delivery attempt each time an ack deadline
   * passes while the consumer cannot reach it (measured on the emulator: messages in flight at the cut came back at
   * attempt 4 of 5), and emulator 0.8.20 as shipped lost some deliveries to the streams the cut had killed, which
   * cost another ack deadline each: with the default 5 attempts, a few healthy orders were dead-lettered by the broker
   * (1 run in 20 under load; measured before scripts/services started the emulator with its grpc fixed, see
   * scripts/pubsub-emulator-fix). An operator sizes the attempts to the outages to ride out; so does this test. SQS
   * counts receives only, and nothing is received during an outage.
   */
  outageFlags: string[];
}

const BROKERS: Broker[] = [
  {
    name: "sns-sqs",
    up: motoUp,
    target: SERVICES.moto.port,
    outageFlags: [],
    flags: (id, port) => [
      "--transport=sns-sqs",
      `--aws-endpoint=http://127.0.0.1:${port}`,
      "--sqs-wait-time=1",
      "--sqs-pollers=2",
      "--sqs-visibility-timeout=6",
      "--sqs-max-receive-count=5",
      `--sns-orders-topic=${id}_orders`,
      `--sns-payments-topic=${id}_payments`,
      `--sns-dlq-topic=${id}_dlq`,
      `--sns-alerts-topic=${id}_alerts`,
      `--sqs-order-queue=${id}_order_q`,
      `--sqs-analytics-queue=${id}_analytics_q`,
      `--sqs-payment-queue=${id}_payment_q`,
      `--sqs-dlq-queue=${id}_dlq_q`,
    ],
  },
  {
    name: "pubsub",
    up: pubsubUp,
    target: SERVICES.pubsub.port,
    outageFlags: ["--pubsub-max-delivery-attempts=20"],
    flags: (id, port) => [
      "--transport=pubsub",
      `--pubsub-endpoint=127.0.0.1:${port}`,
      "--pubsub-project=ecom-e2e",
      "--pubsub-ack-deadline=10",
      `--pubsub-orders-topic=${id}-orders`,
      `--pubsub-payments-topic=${id}-payments`,
      `--pubsub-dlq-topic=${id}-dlq`,
      `--pubsub-alerts-topic=${id}-alerts`,
      `--pubsub-order-sub=${id}-orders-sub`,
      `--pubsub-analytics-sub=${id}-orders-analytics-sub`,
      `--pubsub-payment-sub=${id}-payments-sub`,
      `--pubsub-dlq-sub=${id}-dlq-sub`,
    ],
  },
];

afterAll(async () => {
  // Drop the test keyspaces through a short-lived ecom-free CQL session.
  if (!cassandraUp || keyspaces.length === 0) return;
  const { Client } = await import("cassandra-driver");
  const client = new Client({ contactPoints: ["127.0.0.1"], localDataCenter: "datacenter1" });
  for (const ks of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`).catch(() => {});
  await client.shutdown();
}, 120_000);

/** A bare client of the broker, built from the same flags ecom gets: publishes bodies straight to a topic. */
function brokerClient(flags: string[]): Transport {
  const config = loadConfig({ flags: parseCli(flags).flags, env: {} });
  return config.transport === "sns-sqs" ? createSnsSqsTransport(config.aws, {}) : createPubsubTransport(config.pubsub, {});
}

async function publishRaw(flags: string[], bodies: string[], topic: "orders" | "payments" = "orders"): Promise<void> {
  const client = brokerClient(flags);
  try {
    const result = await client.publish(bodies.map((body, i) => ({ id: `raw-${Date.now()}-${i}`, topic, body })));
    expect(result.failed).toEqual([]);
  } finally {
    await client.close();
  }
}

/** Sends `body` straight to the SQS queue of `subscription` (named in `flags`), bypassing SNS and its 256 KiB limit. */
async function sendToQueue(flags: string[], port: number, subscription: "payment", body: string): Promise<void> {
  const { SQSClient, GetQueueUrlCommand, SendMessageCommand } = await import("@aws-sdk/client-sqs");
  const queue = flags.find((f) => f.startsWith(`--sqs-${subscription}-queue=`))!.split("=")[1]!;
  const sqs = new SQSClient({ region: "us-east-1", endpoint: `http://127.0.0.1:${port}` });
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
  } finally {
    sqs.destroy();
  }
}

/** Provisions fresh broker resources and a fresh Cassandra keyspace; returns the flags for every process. */
async function setup(broker: Broker, proxy: Proxy, extra: string[] = []): Promise<string[]> {
  const id = uid();
  const keyspace = `ecom_b_${id}`;
  keyspaces.push(keyspace);
  const flags = [...broker.flags(id, proxy.port), ...extra, "--store=cassandra", `--cassandra-keyspace=${keyspace}`];
  const provision = await runEcom(["provision", ...flags, `--data-dir=${tempDir()}`]);
  expect(provision.stderr).toBe("");
  expect(provision.code).toBe(0);
  return flags;
}

for (const broker of BROKERS) {
  describe.skipIf(!broker.up || !cassandraUp)(`${broker.name} + cassandra, end to end`, () => {
    test("seeded run: every order, every matched payment, exactly the unmatched in /dlq; provision twice changes nothing", async () => {
      const proxy = await startProxy(broker.target);
      let app: Running | null = null;
      try {
        const flags = await setup(broker, proxy);
        const again = await runEcom(["provision", ...flags, `--data-dir=${tempDir()}`]);
        expect(again.code).toBe(0);
        expect(again.stdout.split("\n").filter((l) => l.startsWith("created"))).toEqual([]);
        app = await startEcom(["--role=all", ...RUN, "--rate=0", ...flags, `--data-dir=${tempDir()}`]);
        await waitForCompletion(app, exp, 240_000);
        // A real broker may redeliver even without an outage (moto: a visibility extension landing late).
        await verifyFinal(app, exp, SEED, { redeliveries: true });
        expect(await app.stop()).toBe(0);
      } finally {
        app?.proc.kill("SIGKILL");
        await proxy.close();
      }
    }, 360_000);

    test("a consumer killed without acking: its messages go to another consumer; no loss, no double effect", async () => {
      const proxy = await startProxy(broker.target);
      const deadStore = await startProxy(SERVICES.cassandra.port);
      const procs: Running[] = [];
      try {
        const flags = await setup(broker, proxy);
        const count = 60;
        // The first consumer's store is then cut: it receives orders, cannot store them, holds them unacked.
        const first = await startEcom(["--role=order", ...flags, `--cassandra-port=${deadStore.port}`, "--cassandra-request-timeout=1s", `--data-dir=${tempDir()}`]);
        procs.push(first);
        await deadStore.cut();
        const producer = await startEcom(["--role=producer", `--orders=${count}`, "--payments=0", "--duplicate-ratio=0", "--rate=0", `--seed=${SEED}`, ...flags, `--data-dir=${tempDir()}`]);
        procs.push(producer);
        await waitFor("the first consumer holds orders", async () => (await first.get("/status")).counters.order.received === 0 && (await producer.get("/status")).outbox.pending === 0 && first.output().includes("store unavailable"), { timeoutMs: 60_000 });
        await first.kill9();
        const second = await startEcom(["--role=order", ...flags, `--data-dir=${tempDir()}`]);
        procs.push(second);
        // Held leases lapse within one ack deadline (10 s) of the kill; the rest is the second consumer's start-up.
        await waitFor(`${count} orders stored by the second consumer`, async () => (await second.get("/status")).counters.order.processed === count, { timeoutMs: 60_000 }).catch(async (error: unknown) => {
          // What the second consumer saw, to tell messages it never got from ones it got and could not store.
          console.error(`${broker.name} killed-consumer test, second consumer at timeout: ${JSON.stringify((await second.get("/status")).counters.order)}\n${second.output().slice(-4000)}`);
          throw error;
        });
        for (let id = 1; id <= count; id++) expect(await second.get(`/orders/${id}`)).toMatchObject(orderAt(SEED, id));
        // Nothing is applied twice: redeliveries after this point are duplicates, and none are left to come.
        const st = (await second.get("/status")).counters.order;
        expect(st.processed).toBe(count);
        expect(st.invalid).toBe(0);
      } finally {
        for (const p of procs) p.proc.kill("SIGKILL");
        await proxy.close();
        await deadStore.close();
      }
    }, 300_000);

    test("a poison message published straight to the broker ends in /dlq with its reason; the role keeps going", async () => {
      const proxy = await startProxy(broker.target);
      let app: Running | null = null;
      try {
        const flags = await setup(broker, proxy);
        app = await startEcom(["--role=order,dlq", ...flags, `--data-dir=${tempDir()}`]);
        const garbage = "\u00ff\u00fe not json {{{ <binary-ish>";
        const wrongType = JSON.stringify({ id: "poison-1", type: "refund", version: 1, produced_at: new Date().toISOString(), data: {} });
        await publishRaw(flags, [garbage, wrongType]);
        const ids = [deadLetterId("malformed", null, null, garbage), deadLetterId("invalid", null, null, wrongType)];
        for (const id of ids) await waitFor(`dead letter ${id}`, async () => (await app!.request(`/dlq/${id}`)).ok, { timeoutMs: 60_000 });
        expect((await app.get(`/dlq/${ids[0]}`)).reason).toBe("malformed");
        expect((await app.get(`/dlq/${ids[1]}`)).details).toEqual(['type: unknown message type "refund"; expected order or payment']);
        await publishRaw(flags, [JSON.stringify(orderAt(SEED, 5))]);
        await waitFor("a valid order after the poison", async () => (await app!.request("/orders/5")).ok, { timeoutMs: 60_000 });
        expect((await app.get("/status")).counters.order).toMatchObject({ processed: 1, invalid: 2, dead_lettered: 2 });
        // Each poison message is named in a warning (one per batch that had some).
        const warned = app.output().split("\n").filter((l) => l.includes('"msg":"bad messages dead-lettered"')).flatMap((l) => JSON.parse(l).ids as string[]);
        expect(warned.sort()).toEqual([...ids].sort());
      } finally {
        app?.proc.kill("SIGKILL");
        await proxy.close();
      }
    }, 300_000);

    test("an invalid message whose dead letter outgrows the broker's message limit is in /dlq whole; nothing is stuck in the outbox", async () => {
      const proxy = await startProxy(broker.target);
      let app: Running | null = null;
      try {
        const flags = await setup(broker, proxy);
        app = await startEcom(["--role=payment,dlq", ...flags, `--data-dir=${tempDir()}`, "--log-level=info"]);
        // 180 KB, under both brokers' limits; quoted 45,000 times, so inside a dead-letter envelope (escaped) it is
        // about 270 KB: over SNS's 256 KiB, where it used to sit in the outbox for good, refused on every try.
        const big = JSON.stringify({ ...paymentAt({ seed: SEED, unmatchedRatio: 0, duplicateRatio: 0 }, 42), payment_datetime: "not a date", notes: Array(45_000).fill("q") });
        await publishRaw(flags, [big], "payments");
        const id = "invalid.payment.42";
        await waitFor(`dead letter ${id}`, async () => (await app!.request(`/dlq/${id}`)).ok, { timeoutMs: 60_000 });
        const record = await app.get(`/dlq/${id}`);
        expect([record.reason, record.status, record.original === big]).toEqual(["invalid", "pending", true]);
        expect((await app.get("/status")).outbox.pending).toBe(0);
        expect((await app.get("/status")).counters.payment).toMatchObject({ received: 1, invalid: 1, dead_lettered: 1 });
        // Logged once the store confirmed the write, which the GET above may see first: wait for the line.
        const direct = () => app!.output().split("\n").filter((l) => l.includes("dead letter too large for the broker"));
        if (broker.name === "sns-sqs") await waitFor("the direct-store log line", () => direct().length > 0, { timeoutMs: 10_000 });
        expect(direct().length).toBe(broker.name === "sns-sqs" ? 1 : 0);
        if (broker.name !== "sns-sqs") return;
        // Over SNS's limit itself (SQS takes it straight): stored whole, and a replay, which would go through SNS, is
        // refused with the reason rather than left in the outbox.
        const huge = "x".repeat(300_000);
        await sendToQueue(flags, proxy.port, "payment", huge);
        const hugeId = deadLetterId("invalid", null, null, huge);
        await waitFor(`dead letter ${hugeId}`, async () => (await app!.request(`/dlq/${hugeId}`)).ok, { timeoutMs: 60_000 });
        expect((await app.get(`/dlq/${hugeId}`)).original.length).toBe(300_000);
        const replay = await app.request(`/dlq/${hugeId}/replay`, { method: "POST" });
        expect([replay.status, await replay.json()]).toEqual([409, { error: "not_replayable", detail: "the original is 300000 bytes; the sns-sqs broker takes messages of at most 262144" }]);
        expect((await app.get("/status")).outbox.pending).toBe(0);
      } finally {
        app?.proc.kill("SIGKILL");
        await proxy.close();
      }
    }, 300_000);

    test("the broker away for 20 s mid-run: the producer keeps accepting, the relay catches up, nothing is lost", async () => {
      const proxy = await startProxy(broker.target);
      let app: Running | null = null;
      try {
        const flags = await setup(broker, proxy, broker.outageFlags);
        app = await startEcom(["--role=all", ...RUN, "--rate=40", ...flags, `--data-dir=${tempDir()}`]);
        await waitFor("some orders through", async () => (await app!.get("/status")).counters.order.processed >= 20, { timeoutMs: 60_000 });
        await proxy.cut();
        const cutAt = Date.now();
        const producedAtCut = (await app.get("/status")).counters.producer.orders;
        // The outage itself: 20 s, watching that ecom stays up and keeps accepting into its outbox.
        await waitFor("20 s of outage", async () => {
          if (app!.proc.exitCode !== null) throw new Error("ecom exited during the outage");
          return Date.now() - cutAt >= 20_000;
        }, { timeoutMs: 30_000, intervalMs: 500 });
        const during = await app.get("/status");
        expect(during.counters.producer.orders).toBeGreaterThan(producedAtCut);
        expect(during.outbox.pending).toBeGreaterThan(0);
        await proxy.restore();
        const restoredAt = Date.now();
        const done = await waitForCompletion(app, exp, 240_000);
        const c = done.counters;
        console.info(`${broker.name} outage: cut ${new Date(cutAt).toISOString()}, back ${new Date(restoredAt).toISOString()}, pipeline complete ${Date.now() - restoredAt} ms after the broker came back; payments dead-lettered unmatched ${c.payment.unmatched}, reconciled ${c.dlq.reconciled}; redelivered (duplicates) order ${c.order.duplicates}, payment ${c.payment.duplicates}`);
        // At-least-once: an ack (SQS delete, Pub/Sub ack) in flight when the broker went away is lost and its
        // message comes back; the inbox absorbs it as a duplicate. So duplicates may exceed the producer's own.
        await verifyFinal(app, exp, SEED, { redeliveries: true });
      } finally {
        app?.proc.kill("SIGKILL");
        await proxy.close();
      }
    }, 420_000);
  });
}
