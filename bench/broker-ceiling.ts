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

// ---------------------------------------------------------------- SNS + SQS

interface SnsSqsRig {
  sns: SNSClient;
  sqs: SQSClient;
  topicArn: string;
  queueUrl: string;
}

async function snsSqsRig(config: AwsConfig): Promise<SnsSqsRig> {
  const sns = new SNSClient({ region: config.region, endpoint: config.snsEndpoint });
  const sqs = new SQSClient({ region: config.region, endpoint: config.sqsEndpoint });
  const name = uniqueName("ceiling");
  const topicArn = (await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!;
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  const policy = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "sns.amazonaws.com" }, Action: "sqs:SendMessage", Resource: queueArn, Condition: { ArnEquals: { "aws:SourceArn": topicArn } } }],
  };
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { Policy: JSON.stringify(policy) } }));
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: queueArn, Attributes: { RawMessageDelivery: "true" } }));
  return { sns, sqs, topicArn, queueUrl };
}

async function snsPublishAll(rig: SnsSqsRig, n: number, consumed: Set<string>, maxBacklog: number): Promise<void> {
  const batches = Math.ceil(n / 10);
  let next = 0;
  const worker = async () => {
    while (next < batches) {
      if (next * 10 - consumed.size >= maxBacklog) {
        await Bun.sleep(2);
        continue;
      }
      const b = next++;
      const size = Math.min(10, n - b * 10);
      const entries = Array.from({ length: size }, (_, i) => ({ Id: `m${i}`, Message: benchBody(b * 10 + i) }));
      const answer = await rig.sns.send(new PublishBatchCommand({ TopicArn: rig.topicArn, PublishBatchRequestEntries: entries }));
      if (answer.Failed?.length) throw new Error(`PublishBatch failed ${answer.Failed.length} entries: ${answer.Failed[0]!.Code}`);
    }
  };
  await Promise.all(Array.from({ length: SNS_PUBLISH_CONCURRENCY }, worker));
}

/** Long-polls with `pollers` loops, deleting every message, until n distinct messages are in `seen`. */
async function sqsConsumeAll(rig: SnsSqsRig, n: number, pollers: number, clock: Clock, seen: Set<string>): Promise<void> {
  const poll = async () => {
    while (seen.size < n) {
      const answer = await rig.sqs.send(new ReceiveMessageCommand({ QueueUrl: rig.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const messages = answer.Messages ?? [];
      if (messages.length === 0) continue;
      clock.received();
      const entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }));
      await rig.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: rig.queueUrl, Entries: entries }));
      for (const m of messages) seen.add(m.Body ?? "");
      clock.lastAckAt = performance.now();
    }
  };
  await Promise.all(Array.from({ length: pollers }, poll));
}

async function snsSqsRun(rig: SnsSqsRig, n: number, pollers: number, maxBacklog: number): Promise<BrokerCeiling> {
  const clock = new Clock();
  // Distinct bodies: moto may hand one message to two concurrent polls.
  const seen = new Set<string>();
  const consuming = sqsConsumeAll(rig, n, pollers, clock, seen);
  await snsPublishAll(rig, n, seen, maxBacklog);
  clock.publishedAt = performance.now();
  await consuming;
  return clock.rates(n);
}

/**
 * Bare SNS PublishBatch (16 calls in flight) into a topic with one raw-delivery queue, drained by `config.pollers`
 * long polls; the producer stays at most `maxBacklog` messages ahead (unbounded by default).
 */
export async function measureSnsSqsCeiling(config: AwsConfig, n: number, { maxBacklog = Infinity } = {}): Promise<BrokerCeiling> {
  const rig = await snsSqsRig(config);
  const cleanup = onInterrupt(async () => {
    await rig.sns.send(new DeleteTopicCommand({ TopicArn: rig.topicArn }));
    await rig.sqs.send(new DeleteQueueCommand({ QueueUrl: rig.queueUrl }));
  });
  try {
    await snsSqsRun(rig, Math.min(100, n), config.pollers, maxBacklog);
    return await snsSqsRun(rig, n, config.pollers, maxBacklog);
  } finally {
    cleanup.dispose();
    await rig.sns.send(new DeleteTopicCommand({ TopicArn: rig.topicArn }));
    await rig.sqs.send(new DeleteQueueCommand({ QueueUrl: rig.queueUrl }));
    rig.sns.destroy();
    rig.sqs.destroy();
  }
}

// ---------------------------------------------------------------- Pub/Sub

function pubsubClient(config: PubsubConfig): PubSub {
  const options: ClientConfig = { projectId: config.projectId };
  if (config.emulatorHost) Object.assign(options, { apiEndpoint: config.emulatorHost, emulatorMode: true, universeDomain: "googleapis.com" });
  return new PubSub(options);
}

async function pubsubRun(client: PubSub, topicName: string, subName: string, maxMessages: number, n: number): Promise<BrokerCeiling> {
  const clock = new Clock();
  const subscription = client.subscription(subName, { flowControl: { maxMessages, allowExcessMessages: false } });
  const seen = new Set<string>();
  const consumed = new Promise<void>((resolve) => {
    subscription.on("message", (message: Message) => {
      clock.received();
      message.ack();
      seen.add(message.id);
      if (seen.size === n) {
        clock.lastAckAt = performance.now();
        resolve();
      }
    });
  });
  subscription.on("error", (error) => console.error("subscriber error:", error));
  const topic = client.topic(topicName, { batching: PUBSUB_BATCHING });
  await Promise.all(Array.from({ length: n }, (_, i) => topic.publishMessage({ data: Buffer.from(benchBody(i)) })));
  clock.publishedAt = performance.now();
  await consumed;
  // Close flushes the pending acks, so the next run starts on an empty subscription.
  await subscription.close();
  return clock.rates(n);
}

/** Bare @google-cloud/pubsub: batched publishMessage (1000 / 10 ms) and one streaming-pull subscriber acking each message. */
export async function measurePubsubCeiling(config: PubsubConfig, n: number): Promise<BrokerCeiling> {
  const client = pubsubClient(config);
  const topicName = uniqueName("ceiling-");
  const subName = `${topicName}-sub`;
  const [topic] = await client.createTopic(topicName);
  const [subscription] = await topic.createSubscription(subName, { ackDeadlineSeconds: 60 });
  const cleanup = onInterrupt(async () => {
    await subscription.delete();
    await topic.delete();
  });
  try {
    await pubsubRun(client, topicName, subName, config.maxMessages, Math.min(1000, n));
    return await pubsubRun(client, topicName, subName, config.maxMessages, n);
  } finally {
    cleanup.dispose();
    await subscription.delete();
    await topic.delete();
    await client.close();
  }
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
      ordering: false,
      topics: { orders: "", payments: "", deadletters: "", alerts: "" },
      subscriptions: { order: "", analytics: "", payment: "", dlq: "" },
    };
    console.log(`pubsub emulator, n=${pubsubN}: ${fmt(await measurePubsubCeiling(pubsub, pubsubN))}`);
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
  } else console.log(`moto: not answering on 127.0.0.1:${motoPort} (scripts/services start moto)`);
}

if (import.meta.main) await main();
