// Broker ceilings: the bare SDKs publishing and consuming as fast as they can, to compare the transports against.
// Run: bun bench/broker-ceiling.ts [--pubsub-n=20000] [--moto-n=5000] [--moto-backlog=50]
//
// Producer and consumer run at the same time, as in the pipeline. Against moto the producer also stays at most
// `maxBacklog` messages ahead of the consumer: moto rescans a queue on every send and receive, so a backlog of
// thousands slows it to a few messages per second (a 5000-message run without the cap did not finish in 7 min).
// publishPerSec = n / publish time; consumePerSec = n / (first receive .. last ack); endToEndPerSec = n / (start ..
// last ack). Each run uses fresh, uniquely named resources and deletes them afterwards.
import { CreateTopicCommand, DeleteTopicCommand, PublishBatchCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { PubSub, type ClientConfig, type Message } from "@google-cloud/pubsub";
import { connect } from "node:net";
import type { AwsConfig, PubsubConfig } from "../src/config/types.ts";

export interface BrokerCeiling {
  publishPerSec: number;
  consumePerSec: number;
  endToEndPerSec: number;
  /** This process's CPU (the bare client publishing, receiving and acking) per message published, in us (Pub/Sub runs). */
  clientCpuUs?: number;
}

const SNS_PUBLISH_CONCURRENCY = 16;
const PUBSUB_BATCHING = { maxMessages: 1000, maxMilliseconds: 10 };

/** A body the size of a real order envelope (~300 bytes), so the rates mean something for the pipeline. */
function benchBody(n: number): string {
  const data = {
    order_id: 1_000_000 + n, customer_id: 5_000 + (n % 997), item: "Wireless Mouse", quantity: 1 + (n % 5), price: 24.99,
    shipping_address: "12 Harbour Street, Springfield", order_status: "created", creation_date: "2026-01-01T00:00:00.000Z",
  };
  return JSON.stringify({ id: `bench-${n}`, type: "order", version: 1, produced_at: "2026-01-01T00:00:00.000Z", data });
}

/** Deletes a run's resources if the bench is interrupted (Ctrl-C) mid-run, so shared servers keep no backlog. */
function onInterrupt(remove: () => Promise<void>): { dispose(): void } {
  const handler = (signal: NodeJS.Signals) => {
    void remove().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
  return {
    dispose() {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}

const uniqueName = (prefix: string) => `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const perSec = (n: number, ms: number) => Math.round(n / (Math.max(ms, 1) / 1000));

/** Timestamps of one run, turned into rates. */
class Clock {
  readonly start = performance.now();
  publishedAt = 0;
  firstReceiveAt = 0;
  lastAckAt = 0;
  received(): void {
    if (this.firstReceiveAt === 0) this.firstReceiveAt = performance.now();
  }
  rates(n: number): BrokerCeiling {
    return {
      publishPerSec: perSec(n, this.publishedAt - this.start),
      consumePerSec: perSec(n, this.lastAckAt - this.firstReceiveAt),
      endToEndPerSec: perSec(n, this.lastAckAt - this.start),
    };
  }
}

/** Part `i` of `n` split as evenly as possible into `parts` (the first ones take the remainder). */
const evenShare = (n: number, parts: number, i: number) => Math.floor(n / parts) + (i < n % parts ? 1 : 0);

// ---------------------------------------------------------------- SNS + SQS

interface SnsTopicRig {
  topicArn: string;
  queueUrls: string[];
}

interface SnsSqsRig {
  sns: SNSClient;
  sqs: SQSClient;
  topics: SnsTopicRig[];
}

/** One topic per entry of `fanout`, each with that many raw-delivery queues subscribed. */
async function snsSqsRig(config: AwsConfig, fanout: number[]): Promise<SnsSqsRig> {
  const sns = new SNSClient({ region: config.region, endpoint: config.snsEndpoint });
  const sqs = new SQSClient({ region: config.region, endpoint: config.sqsEndpoint });
  const rig: SnsSqsRig = { sns, sqs, topics: [] };
  const base = uniqueName("ceiling");
  for (const [t, queues] of fanout.entries()) {
    const topicArn = (await sns.send(new CreateTopicCommand({ Name: `${base}_t${t}` }))).TopicArn!;
    const topic: SnsTopicRig = { topicArn, queueUrls: [] };
    rig.topics.push(topic);
    for (let q = 0; q < queues; q++) {
      const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${base}_t${t}_q${q}` }))).QueueUrl!;
      topic.queueUrls.push(queueUrl);
      const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
      const policy = {
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "sns.amazonaws.com" }, Action: "sqs:SendMessage", Resource: queueArn, Condition: { ArnEquals: { "aws:SourceArn": topicArn } } }],
      };
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { Policy: JSON.stringify(policy) } }));
      await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: queueArn, Attributes: { RawMessageDelivery: "true" } }));
    }
  }
  return rig;
}

async function removeSnsSqsRig(rig: SnsSqsRig): Promise<void> {
  for (const t of rig.topics) {
    await rig.sns.send(new DeleteTopicCommand({ TopicArn: t.topicArn })).catch(() => {});
    for (const url of t.queueUrls) await rig.sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {});
  }
}

/** Publishes `n` bodies (numbered from `first`) to a topic, staying at most `maxBacklog` ahead of its slowest queue. */
async function snsPublishAll(rig: SnsSqsRig, topicArn: string, first: number, n: number, slowest: () => number, maxBacklog: number): Promise<void> {
  const batches = Math.ceil(n / 10);
  let next = 0;
  const worker = async () => {
    while (next < batches) {
      if (next * 10 - slowest() >= maxBacklog) {
        await Bun.sleep(2);
        continue;
      }
      const b = next++;
      const size = Math.min(10, n - b * 10);
      const entries = Array.from({ length: size }, (_, i) => ({ Id: `m${i}`, Message: benchBody(first + b * 10 + i) }));
      const answer = await rig.sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }));
      if (answer.Failed?.length) throw new Error(`PublishBatch failed ${answer.Failed.length} entries: ${answer.Failed[0]!.Code}`);
    }
  };
  await Promise.all(Array.from({ length: SNS_PUBLISH_CONCURRENCY }, worker));
}

/** Long-polls a queue with `pollers` loops, deleting every message, until n distinct messages are in `seen`. */
async function sqsConsumeAll(rig: SnsSqsRig, queueUrl: string, n: number, pollers: number, clock: Clock, seen: Set<string>): Promise<void> {
  const poll = async () => {
    while (seen.size < n) {
      const answer = await rig.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const messages = answer.Messages ?? [];
      if (messages.length === 0) continue;
      clock.received();
      const entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }));
      await rig.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      for (const m of messages) seen.add(m.Body ?? "");
      clock.lastAckAt = performance.now();
    }
  };
  await Promise.all(Array.from({ length: pollers }, poll));
}

/** n messages split evenly over the rig's topics; rates count published messages, the run ends when every queue has all of its topic's. */
async function snsSqsRun(rig: SnsSqsRig, n: number, pollers: number, maxBacklog: number): Promise<BrokerCeiling> {
  const clock = new Clock();
  const consuming: Promise<void>[] = [];
  const publishing: Promise<void>[] = [];
  let first = 0;
  for (const [i, topic] of rig.topics.entries()) {
    const count = evenShare(n, rig.topics.length, i);
    // Distinct bodies: moto may hand one message to two concurrent polls.
    const seen = topic.queueUrls.map(() => new Set<string>());
    topic.queueUrls.forEach((url, q) => consuming.push(sqsConsumeAll(rig, url, count, pollers, clock, seen[q]!)));
    publishing.push(snsPublishAll(rig, topic.topicArn, first, count, () => Math.min(...seen.map((s) => s.size)), maxBacklog));
    first += count;
  }
  await Promise.all(publishing);
  clock.publishedAt = performance.now();
  await Promise.all(consuming);
  return clock.rates(n);
}

/**
 * Bare SNS PublishBatch (16 calls in flight per topic) into topics with raw-delivery queues (`fanout`: queues per
 * topic; default one topic, one queue), each drained by `config.pollers` long polls; publishers stay at most
 * `maxBacklog` messages ahead of their slowest queue (unbounded by default).
 */
export async function measureSnsSqsCeiling(config: AwsConfig, n: number, { maxBacklog = Infinity, fanout = [1] }: { maxBacklog?: number; fanout?: number[] } = {}): Promise<BrokerCeiling> {
  const rig = await snsSqsRig(config, fanout);
  const cleanup = onInterrupt(() => removeSnsSqsRig(rig));
  try {
    await snsSqsRun(rig, Math.min(100, n), config.pollers, maxBacklog);
    return await snsSqsRun(rig, n, config.pollers, maxBacklog);
  } finally {
    cleanup.dispose();
    await removeSnsSqsRig(rig);
    rig.sns.destroy();
    rig.sqs.destroy();
  }
}

// ---------------------------------------------------------------- Pub/Sub

/** Subscriber settings a bare client might pick; the ceiling is the best of them (the emulator serves each stream at ~2k msg/s). */
export interface PubsubSetting {
  streams: number;
  maxMessages: number;
}
export const PUBSUB_SETTINGS: readonly PubsubSetting[] = [
  { streams: 5, maxMessages: 1000 }, // the client library's defaults
  { streams: 10, maxMessages: 5000 },
];
const settingLabel = (s: PubsubSetting) => `${s.streams} streams, ${s.maxMessages} outstanding`;

function pubsubClient(config: PubsubConfig): PubSub {
  const options: ClientConfig = { projectId: config.projectId };
  if (config.emulatorHost) Object.assign(options, { apiEndpoint: config.emulatorHost, emulatorMode: true, universeDomain: "googleapis.com" });
  return new PubSub(options);
}

/** Topics with their subscriptions and how many messages each topic gets. */
interface PubsubShape {
  topics: { name: string; subs: string[]; count: number }[];
}

/**
 * Publishes every topic's messages (batched publishMessage, 1000 / 10 ms) while one streaming-pull subscriber per
 * subscription acks each message. Rates count published messages; the run ends when every subscription has all its topic's.
 */
async function pubsubRun(client: PubSub, shape: PubsubShape, setting: PubsubSetting): Promise<BrokerCeiling> {
  const clock = new Clock();
  const cpu0 = process.cpuUsage();
  const subscriptions = shape.topics.flatMap((t) =>
    t.subs.map((name) => ({ count: t.count, sub: client.subscription(name, { flowControl: { maxMessages: setting.maxMessages, allowExcessMessages: false }, streamingOptions: { maxStreams: setting.streams } }) })),
  );
  const consumed = subscriptions.map(
    ({ sub, count }) =>
      new Promise<void>((resolve) => {
        const seen = new Set<string>();
        sub.on("message", (message: Message) => {
          clock.received();
          message.ack();
          seen.add(message.id);
          if (seen.size === count) resolve();
        });
        sub.on("error", (error) => console.error("subscriber error:", error));
      }),
  );
  let offset = 0;
  const published = shape.topics.map((t) => {
    const topic = client.topic(t.name, { batching: PUBSUB_BATCHING });
    const base = offset;
    offset += t.count;
    return Promise.all(Array.from({ length: t.count }, (_, i) => topic.publishMessage({ data: Buffer.from(benchBody(base + i)) })));
  });
  await Promise.all(published);
  clock.publishedAt = performance.now();
  await Promise.all(consumed);
  clock.lastAckAt = performance.now();
  // Close flushes the pending acks, so the next run starts on empty subscriptions.
  await Promise.all(subscriptions.map(({ sub }) => sub.close()));
  const cpu = process.cpuUsage(cpu0);
  return { ...clock.rates(offset), clientCpuUs: (cpu.user + cpu.system) / offset };
}

/** Creates the shape's topics and subscriptions, runs a warm-up and then `runs`, and deletes them. */
async function withPubsubShape<T>(config: PubsubConfig, fanout: number[], run: (client: PubSub, shape: (n: number) => PubsubShape) => Promise<T>): Promise<T> {
  const client = pubsubClient(config);
  const base = uniqueName("ceiling-");
  const topics = fanout.map((subs, i) => ({ name: `${base}-t${i}`, subs: Array.from({ length: subs }, (_, j) => `${base}-t${i}-s${j}`) }));
  const remove = async () => {
    for (const t of topics) {
      for (const s of t.subs) await client.subscription(s).delete().catch(() => {});
      await client.topic(t.name).delete().catch(() => {});
    }
  };
  const cleanup = onInterrupt(remove);
  try {
    for (const t of topics) {
      const [topic] = await client.createTopic(t.name);
      for (const s of t.subs) await topic.createSubscription(s, { ackDeadlineSeconds: 60 });
    }
    // n messages split evenly over the topics.
    return await run(client, (n) => ({ topics: topics.map((t, i) => ({ ...t, count: evenShare(n, topics.length, i) })) }));
  } finally {
    cleanup.dispose();
    await remove();
    await client.close();
  }
}

export interface PubsubCeilings {
  /** The best setting's rates through one topic and one subscription. */
  best: BrokerCeiling & { setting: string };
  tried: (BrokerCeiling & { setting: string })[];
  /** The pipeline's shape with the best setting: n/2 to a topic with two subscriptions, n/2 to one with one. */
  fanout: BrokerCeiling & { setting: string };
}

/**
 * Bare @google-cloud/pubsub: batched publishMessage (1000 / 10 ms) and one streaming-pull subscriber acking each
 * message, for each of `settings`; then the best setting on the pipeline's fan-out shape.
 */
export async function measurePubsubCeiling(config: PubsubConfig, n: number, settings: readonly PubsubSetting[] = PUBSUB_SETTINGS): Promise<PubsubCeilings> {
  const tried: (BrokerCeiling & { setting: string })[] = [];
  await withPubsubShape(config, [1], async (client, shape) => {
    await pubsubRun(client, shape(Math.min(1000, n)), settings[0]!);
    for (const setting of settings) tried.push({ ...(await pubsubRun(client, shape(n), setting)), setting: settingLabel(setting) });
  });
  const best = tried.reduce((a, b) => (b.endToEndPerSec > a.endToEndPerSec ? b : a));
  const bestSetting = settings[tried.indexOf(best)]!;
  const fanout = await withPubsubShape(config, [2, 1], async (client, shape) => {
    await pubsubRun(client, shape(Math.min(1000, n)), bestSetting);
    return { ...(await pubsubRun(client, shape(n), bestSetting)), setting: settingLabel(bestSetting) };
  });
  return { best, tried, fanout };
}

// ---------------------------------------------------------------- command line

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

const fmt = (r: BrokerCeiling) =>
  `publish ${r.publishPerSec.toLocaleString("en-US")} msg/s | consume+ack ${r.consumePerSec.toLocaleString("en-US")} msg/s | ` +
  `end to end ${r.endToEndPerSec.toLocaleString("en-US")} msg/s`;

async function main(): Promise<void> {
  const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
  const motoPort = Number(process.env.ECOM_MOTO_PORT ?? 5000);
  const pubsubPort = Number(process.env.ECOM_PUBSUB_PORT ?? 8085);
  console.log(`broker ceilings (cores=${navigator.hardwareConcurrency})`);

  const pubsubN = arg("pubsub-n", 20_000);
  if (await portOpen("127.0.0.1", pubsubPort)) {
    const pubsub: PubsubConfig = {
      projectId: "ecom-bench",
      emulatorHost: `127.0.0.1:${pubsubPort}`,
      maxDeliveryAttempts: 5,
      ackDeadlineSeconds: 60,
      maxMessages: 1000,
      streams: 5,
      ordering: false,
      topics: { orders: "", payments: "", deadletters: "", alerts: "" },
      subscriptions: { order: "", analytics: "", payment: "", dlq: "" },
    };
    const c = await measurePubsubCeiling(pubsub, pubsubN);
    for (const t of c.tried) console.log(`pubsub emulator, n=${pubsubN}, ${t.setting}: ${fmt(t)}`);
    console.log(`pubsub emulator, n=${pubsubN}, fan-out shape (n/2 to 2 subscriptions, n/2 to 1), ${c.fanout.setting}: ${fmt(c.fanout)}`);
  } else console.log(`pubsub emulator: not answering on 127.0.0.1:${pubsubPort} (scripts/services start pubsub)`);

  const motoN = arg("moto-n", 5_000);
  if (await portOpen("127.0.0.1", motoPort)) {
    process.env.AWS_ACCESS_KEY_ID ??= "test";
    process.env.AWS_SECRET_ACCESS_KEY ??= "test";
    const endpoint = `http://127.0.0.1:${motoPort}`;
    const aws: AwsConfig = {
      region: "us-east-1",
      snsEndpoint: endpoint,
      sqsEndpoint: endpoint,
      maxReceiveCount: 5,
      pollers: 4,
      waitTimeSeconds: 1,
      visibilityTimeoutSeconds: 30,
      rawDelivery: true,
      topics: { orders: "", payments: "", deadletters: "", alerts: "" },
      queues: { order: "", analytics: "", payment: "", dlq: "" },
    };
    const maxBacklog = arg("moto-backlog", 50);
    console.log(`moto, n=${motoN}, backlog <= ${maxBacklog}: ${fmt(await measureSnsSqsCeiling(aws, motoN, { maxBacklog }))}`);
    console.log(`moto, n=${motoN}, backlog <= ${maxBacklog}, fan-out shape (n/2 to 2 queues, n/2 to 1): ${fmt(await measureSnsSqsCeiling(aws, motoN, { maxBacklog, fanout: [2, 1] }))}`);
  } else console.log(`moto: not answering on 127.0.0.1:${motoPort} (scripts/services start moto)`);
}

if (import.meta.main) await main();
