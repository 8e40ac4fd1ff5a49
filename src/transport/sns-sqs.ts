// Amazon SNS + SQS transport: topics fan out to SQS queues; consumers long-poll, ack by delete, retry by visibility.
// Standard (non-FIFO) topics and queues: orderingKey is ignored.
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  PublishBatchCommand,
  SetSubscriptionAttributesCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
  type MessageAttributeValue as SnsAttributeValue,
  type PublishBatchRequestEntry,
} from "@aws-sdk/client-sns";
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  type Message as SqsMessage,
} from "@aws-sdk/client-sqs";
import type { AwsConfig } from "../config/types.ts";
import {
  messageBytes,
  TOPIC_OF_SUBSCRIPTION,
  TransportError,
  type BatchHandler,
  type Delivery,
  type OutgoingMessage,
  type Outcome,
  type ProvisionStep,
  type PublishResult,
  type SubscribeOptions,
  type Subscriber,
  type SubscriptionName,
  type TopicName,
  type Transport,
  type TransportLogger,
} from "./types.ts";
import { pause as sleep } from "../util/pause.ts";
import { Signal } from "../util/signal.ts";

export type { TransportLogger } from "./types.ts";

export interface SnsSqsOptions {
  /** Attempts per SDK call and per failed PublishBatch entry (default 3); redrive uses config.maxReceiveCount. */
  maxAttempts?: number;
  logger?: TransportLogger;
}

const SNS_BATCH_ENTRIES = 10;
// PublishBatch caps the whole request payload (all entries together) at 256 KiB, and so one message.
const SNS_BATCH_BYTES = 256 * 1024;
const PUBLISH_CONCURRENCY = 16;
const SQS_BATCH_ENTRIES = 10;
const SQS_MAX_VISIBILITY_SECONDS = 43_200;
// How long a partial handler batch waits for more messages before it is handed over.
const LINGER_MS = 50;
const BACKOFF_BASE_MS = 100;
// How long close() lets running long polls answer before aborting them: a poll that finds messages answers at once;
// an idle one would hold shutdown for its whole wait time (20 s by default, past the 8 s shutdown grace).
const CLOSE_POLL_WAIT_MS = 1_000;
const BACKOFF_MAX_MS = 5_000;
const CONNECT_TIMEOUT_MS = 3_000;
// A request's bound beyond its long-poll wait time.
const REQUEST_TIMEOUT_MARGIN_MS = 15_000;
const DLQ_RETENTION_SECONDS = 1_209_600;
// With --sqs-max-backlog: how often a held-back publish re-reads queue depths (local deletes count at once), and how
// long one publish call waits before handing the rest back to the relay as deferred (not attempted: no backoff, no
// attempt counted).
const BACKLOG_REFRESH_MS = 250;
const BACKLOG_MAX_WAIT_MS = 2_000;
const SUBSCRIPTIONS: readonly SubscriptionName[] = ["order", "analytics", "payment", "dlq"];
// Queues with a redrive DLQ; the dlq role's own queue has none, so it can keep retrying its records.
const REDRIVEN: readonly SubscriptionName[] = ["order", "analytics", "payment"];
const TOPICS: readonly TopicName[] = ["orders", "payments", "deadletters", "alerts"];

const silentLogger: TransportLogger = { debug() {}, info() {}, warn() {}, error() {} };

// ---------------------------------------------------------------- errors

const RETRYABLE_NAMES = new Set([
  "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
  "TooManyRequestsException", "KMSThrottlingException", "OverLimit", "RequestTimeout", "RequestTimeoutException",
  "TimeoutError", "InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable",
  "AbortError", "PriorRequestNotComplete",
]);
const NETWORK_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED", "EHOSTUNREACH",
  "ENETUNREACH", "ConnectionRefused", "ConnectionClosed", "UND_ERR_SOCKET",
]);

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Throttling, 5xx, timeouts and connection failures are worth another try; the rest are not. */
export function isRetryableAwsError(error: unknown): boolean {
  const e = (error ?? {}) as AwsLikeError;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code && (NETWORK_CODES.has(e.code) || RETRYABLE_NAMES.has(e.code))) return true;
  return /socket hang up|connection (refused|reset|closed)|network/i.test(e.message ?? "");
}

function wrap(error: unknown, what: string, messageIds?: string[]): TransportError {
  if (error instanceof TransportError) return error;
  const e = (error ?? {}) as AwsLikeError;
  const detail = `${e.name ?? "Error"}: ${e.message ?? String(error)}`;
  return new TransportError(`${what}: ${detail}`, isRetryableAwsError(error), { cause: error, messageIds });
}

function isQueueMissing(error: unknown): boolean {
  const name = (error as AwsLikeError)?.name ?? "";
  return name === "QueueDoesNotExist" || name === "AWS.SimpleQueueService.NonExistentQueue";
}

function isNotFound(error: unknown): boolean {
  const name = (error as AwsLikeError)?.name ?? "";
  return name === "NotFound" || name === "NotFoundException" || isQueueMissing(error);
}

function missing(kind: string, name: string): TransportError {
  return new TransportError(`${kind} "${name}" does not exist; run \`ecom provision\` to create it`, false);
}

// ---------------------------------------------------------------- small helpers


/** Exponential backoff with full jitter (so many clients do not retry in step). */
function backoffMs(failures: number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures, 10));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `work` over items with at most `limit` calls in flight. */
async function forEachLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Splits one topic's messages into PublishBatch requests within the entry and byte limits. */
function publishBatches(messages: OutgoingMessage[]): OutgoingMessage[][] {
  const batches: OutgoingMessage[][] = [];
  let current: OutgoingMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message);
    if (current.length > 0 && (current.length === SNS_BATCH_ENTRIES || bytes + size > SNS_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function snsAttributes(attributes: Record<string, string> | undefined): Record<string, SnsAttributeValue> | undefined {
  if (!attributes) return undefined;
  const entries = Object.entries(attributes);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([key, value]) => [key, { DataType: "String", StringValue: value }]));
}

/** Message attributes of an SQS message; for an SNS envelope (raw delivery off) the ones inside it. */
function deliveryAttributes(message: SqsMessage): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.MessageAttributes ?? {})) {
    if (value.StringValue !== undefined) attributes[key] = value.StringValue;
    else if (value.BinaryValue !== undefined) attributes[key] = Buffer.from(value.BinaryValue).toString("base64");
  }
  if (Object.keys(attributes).length > 0 || !message.Body?.includes('"Notification"')) return attributes;
  try {
    const envelope = JSON.parse(message.Body) as { Type?: string; MessageAttributes?: Record<string, { Value?: string }> };
    if (envelope.Type !== "Notification") return attributes;
    for (const [key, value] of Object.entries(envelope.MessageAttributes ?? {})) {
      if (typeof value?.Value === "string") attributes[key] = value.Value;
    }
  } catch {
    // Not an envelope after all: the role validates the body.
  }
  return attributes;
}

function sameJson(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

function sameRedrive(current: string | undefined, wanted: { deadLetterTargetArn: string; maxReceiveCount: number }): boolean {
  if (!current) return false;
  try {
    const parsed = JSON.parse(current) as { deadLetterTargetArn?: string; maxReceiveCount?: number | string };
    return parsed.deadLetterTargetArn === wanted.deadLetterTargetArn && Number(parsed.maxReceiveCount) === wanted.maxReceiveCount;
  } catch {
    return false;
  }
}

function queuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AllowSnsTopic",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queueArn,
        Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
      },
    ],
  });
}

// ---------------------------------------------------------------- transport

interface Held {
  queueUrl: string;
  receiptHandle: string;
  delivery: Delivery;
  settling: boolean;
}

/** Shared by the pollers of one queue: whether the last poll came back full, and a wake-up for idle pollers. */
interface PollState {
  busy: boolean;
  wake: Signal;
}

interface QueueSource {
  queue: string;
  /** Set for a redrive DLQ: the logical subscription whose queue the messages came from. */
  deadLetterSource?: SubscriptionName;
  pollers: number;
}

export function createSnsSqsTransport(config: AwsConfig, opts: SnsSqsOptions = {}): Transport {
  const log = opts.logger ?? silentLogger;
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 3);
  const clientConfig = {
    region: config.region,
    maxAttempts,
    requestHandler: {
      // Long polls, publishes and acks run side by side: allow more sockets than the SDK default.
      httpAgent: { keepAlive: true, maxSockets: 256 },
      httpsAgent: { keepAlive: true, maxSockets: 256 },
      // No call may hang on a broker that went away without closing the connection (the SDK waits forever by
      // default): a connect or a whole request past these fails as a retryable TimeoutError, and the poll loop
      // or the relay tries again. The request bound leaves a long poll its full wait time.
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: config.waitTimeSeconds * 1000 + REQUEST_TIMEOUT_MARGIN_MS,
      throwOnRequestTimeout: true,
    },
  };
  const sns = new SNSClient({ ...clientConfig, endpoint: config.snsEndpoint });
  const sqs = new SQSClient({ ...clientConfig, endpoint: config.sqsEndpoint });
  const topicArns = new Map<string, string>();
  let topicListing: Promise<void> | undefined;
  const queueUrls = new Map<string, Promise<string>>();
  const subscribers = new Set<Subscriber>();
  let closed = false;

  const dlqName = (queue: string) => `${queue}_dlq`;

  async function listTopics(signal?: AbortSignal): Promise<void> {
    let token: string | undefined;
    do {
      const page = await sns.send(new ListTopicsCommand({ NextToken: token }), { abortSignal: signal });
      for (const topic of page.Topics ?? []) {
        if (topic.TopicArn) topicArns.set(topic.TopicArn.slice(topic.TopicArn.lastIndexOf(":") + 1), topic.TopicArn);
      }
      token = page.NextToken;
    } while (token);
  }

  /** Topic ARN by name, found with ListTopics (never CreateTopic: only provision creates). */
  async function topicArn(name: string, signal?: AbortSignal): Promise<string> {
    const cached = topicArns.get(name);
    if (cached) return cached;
    topicListing ??= listTopics(signal).finally(() => (topicListing = undefined));
    try {
      await topicListing;
    } catch (error) {
      throw wrap(error, `SNS ListTopics (looking for topic "${name}")`);
    }
    const arn = topicArns.get(name);
    if (!arn) throw missing("SNS topic", name);
    return arn;
  }

  async function lookupQueueUrl(name: string): Promise<string> {
    try {
      const answer = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      if (!answer.QueueUrl) throw new Error("GetQueueUrl answered without QueueUrl");
      return answer.QueueUrl;
    } catch (error) {
      if (isQueueMissing(error)) throw missing("SQS queue", name);
      throw wrap(error, `SQS GetQueueUrl "${name}"`);
    }
  }

  /** Queue URL by name, looked up once (failures are not cached, so a later provision is picked up). */
  function queueUrl(name: string): Promise<string> {
    let url = queueUrls.get(name);
    if (!url) {
      url = lookupQueueUrl(name);
      queueUrls.set(name, url);
      url.catch(() => queueUrls.delete(name));
    }
    return url;
  }

  // ------------------------------------------------------------ publish

  type Failure = { id: string; error: TransportError };

  /** One PublishBatch call; sorts the entries into confirmed, worth retrying, and failed for good. */
  async function publishOnce(arn: string, batch: OutgoingMessage[], signal?: AbortSignal): Promise<{ retry: Failure[]; fatal: Failure[] }> {
    const entries: PublishBatchRequestEntry[] = batch.map((message, i) => ({
      Id: `m${i}`,
      Message: message.body,
      MessageAttributes: snsAttributes(message.attributes),
    }));
    try {
      const answer = await sns.send(new PublishBatchCommand({ TopicArn: arn, PublishBatchRequestEntries: entries }), { abortSignal: signal });
      const retry: Failure[] = [];
      const fatal: Failure[] = [];
      const answered = new Set<string>((answer.Successful ?? []).map((entry) => entry.Id ?? ""));
      for (const entry of answer.Failed ?? []) {
        const message = batch[Number(entry.Id?.slice(1))];
        if (!message) continue;
        answered.add(entry.Id!);
        const retryable = !entry.SenderFault || RETRYABLE_NAMES.has(entry.Code ?? "");
        const error = new TransportError(`SNS PublishBatch entry failed: ${entry.Code}: ${entry.Message ?? ""}`, retryable, { messageIds: [message.id] });
        (retryable ? retry : fatal).push({ id: message.id, error });
      }
      // An entry in neither list was not confirmed (moto drops entries that hit unexpected errors this way).
      batch.forEach((message, i) => {
        if (answered.has(`m${i}`)) return;
        retry.push({ id: message.id, error: new TransportError("SNS PublishBatch: entry neither succeeded nor failed", true, { messageIds: [message.id] }) });
      });
      return { retry, fatal };
    } catch (cause) {
      const error = wrap(cause, `SNS PublishBatch to ${arn}`, batch.map((m) => m.id));
      const failures = batch.map((m) => ({ id: m.id, error }));
      return error.retryable ? { retry: failures, fatal: [] } : { retry: [], fatal: failures };
    }
  }

  /** Publishes one batch, retrying its retryable failures with backoff; returns what still failed. */
  async function publishBatch(arn: string, batch: OutgoingMessage[], signal?: AbortSignal): Promise<Failure[]> {
    const failed: Failure[] = [];
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      const { retry, fatal } = await publishOnce(arn, pending, signal);
      failed.push(...fatal);
      if (retry.length === 0) return failed;
      if (attempt >= maxAttempts || signal?.aborted) return failed.concat(retry);
      log.debug({ count: retry.length, attempt, error: retry[0]!.error.message }, "sns publish: retrying failed entries");
      await sleep(backoffMs(attempt), signal);
      const retryIds = new Set(retry.map((f) => f.id));
      pending = pending.filter((m) => retryIds.has(m.id));
    }
  }

  // ------------------------------------------------------------ backlog gate (--sqs-max-backlog)

  /**
   * Per queue: its depth when last read, plus what this transport published to its topic since, minus what this
   * transport's own subscribers deleted from it since. Local deletes free room at once; consumers elsewhere show up at
   * the next read (every BACKLOG_REFRESH_MS while a publish is held).
   */
  const backlogs = new Map<string, { estimate: number; readAt: number; reading?: Promise<void> }>();
  /** Wakes held publishes when local subscribers delete messages. */
  const drained = new Signal();
  const queuesOf = (topic: TopicName) => SUBSCRIPTIONS.filter((s) => TOPIC_OF_SUBSCRIPTION[s] === topic).map((s) => config.queues[s]);
  const queueNamesByUrl = new Map<string, string>();

  function backlogOf(queue: string) {
    let b = backlogs.get(queue);
    if (!b) backlogs.set(queue, (b = { estimate: 0, readAt: 0 }));
    return b;
  }

  /** A local subscriber deleted `count` messages from the queue at `url`. */
  function deleted(url: string, count: number): void {
    const b = backlogs.get(queueNamesByUrl.get(url) ?? "");
    if (!b || count === 0) return;
    b.estimate = Math.max(0, b.estimate - count);
    drained.notify();
  }

  /** Messages in the queue not yet deleted: waiting plus in flight (moto's cost per call grows with both). */
  async function readDepth(queue: string, signal?: AbortSignal): Promise<void> {
    const b = backlogOf(queue);
    b.reading ??= (async () => {
      try {
        const url = await queueUrl(queue);
        queueNamesByUrl.set(url, queue);
        const answer = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
          { abortSignal: signal },
        );
        b.estimate = Number(answer.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(answer.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
      } catch (error) {
        // Depth unknown: admit rather than stall the relay on a failing GetQueueAttributes.
        log.warn({ queue, error: wrap(error, "SQS GetQueueAttributes").message }, "sns publish: queue depth unknown; not pacing");
        b.estimate = 0;
      } finally {
        b.readAt = Date.now();
        b.reading = undefined;
      }
    })();
    await b.reading;
  }

  /**
   * Waits until `count` more messages fit under the backlog limit of every queue of the topic, or `deadline` passes
   * (false). A topic with no queues, or with the limit off, always admits; so does an empty backlog, whatever `count`
   * is. (Dead letters never come here: see publish.)
   */
  async function admit(topic: TopicName, count: number, deadline: number, signal?: AbortSignal): Promise<boolean> {
    const limit = config.maxBacklog ?? 0;
    const queues = queuesOf(topic);
    if (limit <= 0 || queues.length === 0) return true;
    const list = queues.map(backlogOf);
    for (;;) {
      const stale = queues.filter((_, i) => list[i]!.readAt === 0);
      if (stale.length) await Promise.all(stale.map((q) => readDepth(q, signal)));
      const depth = Math.max(...list.map((b) => b.estimate));
      if (depth === 0 || depth + count <= limit) {
        for (const b of list) b.estimate += count;
        return true;
      }
      if (signal?.aborted || Date.now() >= deadline) return false;
      const due = Math.min(...list.map((b) => b.readAt)) + BACKLOG_REFRESH_MS;
      if (Date.now() >= due) {
        await Promise.all(queues.map((q) => readDepth(q, signal)));
        continue;
      }
      // Until a local delete frees room, the next read is due, or the deadline.
      await drained.wait(signal, Math.min(due, deadline) - Date.now());
    }
  }

  async function publish(messages: OutgoingMessage[], signal?: AbortSignal): Promise<PublishResult> {
    if (closed) throw new TransportError("sns-sqs transport is closed", false, { messageIds: messages.map((m) => m.id) });
    const failed: Failure[] = [];
    const byTopic = new Map<TopicName, OutgoingMessage[]>();
    const position = new Map<OutgoingMessage, number>();
    messages.forEach((message, i) => {
      position.set(message, i);
      const list = byTopic.get(message.topic) ?? [];
      list.push(message);
      byTopic.set(message.topic, list);
    });
    const work: { topic: TopicName; arn: string; batch: OutgoingMessage[] }[] = [];
    for (const [topic, list] of byTopic) {
      try {
        const arn = await topicArn(config.topics[topic], signal);
        for (const batch of publishBatches(list)) work.push({ topic, arn, batch });
      } catch (error) {
        const cause = wrap(error, `publish to ${topic}`);
        const wrapped = new TransportError(cause.message, cause.retryable, { cause, messageIds: list.map((m) => m.id) });
        for (const m of list) failed.push({ id: m.id, error: wrapped });
      }
    }
    // Batches go out in the order of their first message, and with a backlog limit they are admitted in that order
    // too: a payment is not let past the gate while the order published before it is held back.
    work.sort((a, b) => position.get(a.batch[0]!)! - position.get(b.batch[0]!)!);
    const deadline = Date.now() + BACKLOG_MAX_WAIT_MS;
    let admission = Promise.resolve(true);
    await forEachLimit(work, PUBLISH_CONCURRENCY, async ({ topic, arn, batch }) => {
      // Dead letters are never held, nor queued behind held batches: they are few, and a dlq queue nobody consumes
      // would otherwise stop the relay for every topic.
      const admitted = topic === "deadletters" ? true : (admission = admission.then((open) => open && admit(topic, batch.length, deadline, signal)));
      if (!(await admitted)) {
        const error = new TransportError(
          `SNS publish to ${config.topics[topic]} held back: a queue of the topic holds more than --sqs-max-backlog=${config.maxBacklog} messages`,
          true,
          { messageIds: batch.map((m) => m.id), deferred: true },
        );
        for (const m of batch) failed.push({ id: m.id, error });
        return;
      }
      failed.push(...(await publishBatch(arn, batch, signal)));
    });
    return { failed };
  }

  // ------------------------------------------------------------ acks, nacks, leases

  /** Sends one SQS *Batch call per 10 entries, logging (not throwing) failed entries. */
  async function sqsBatches(
    what: string,
    held: Held[],
    send: (queueUrl: string, entries: { id: string; h: Held }[]) => Promise<{ Failed?: { Id?: string; Code?: string; Message?: string }[] }>,
    confirmed?: (queueUrl: string, count: number) => void,
  ): Promise<void> {
    const byQueue = new Map<string, Held[]>();
    for (const h of held) byQueue.set(h.queueUrl, [...(byQueue.get(h.queueUrl) ?? []), h]);
    const calls: Promise<void>[] = [];
    for (const [url, list] of byQueue) {
      for (const part of chunk(list, SQS_BATCH_ENTRIES)) {
        const entries = part.map((h, i) => ({ id: String(i), h }));
        calls.push(
          send(url, entries).then(
            (answer) => {
              for (const f of answer.Failed ?? []) {
                log.warn({ queueUrl: url, code: f.Code, error: f.Message, messageId: entries[Number(f.Id)]?.h.delivery.messageId }, `sqs ${what}: entry failed`);
              }
              confirmed?.(url, entries.length - (answer.Failed?.length ?? 0));
            },
            (error) => {
              const wrapped = wrap(error, `SQS ${what}`, part.map((h) => h.delivery.messageId));
              log.warn({ queueUrl: url, error: wrapped.message, retryable: wrapped.retryable }, `sqs ${what} failed`);
            },
          ),
        );
      }
    }
    await Promise.all(calls);
  }

  function deleteMessages(held: Held[]): Promise<void> {
    return sqsBatches(
      "DeleteMessageBatch",
      held,
      (url, entries) => sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: entries.map(({ id, h }) => ({ Id: id, ReceiptHandle: h.receiptHandle })) })),
      deleted,
    );
  }

  function changeVisibility(held: Held[], seconds: (h: Held) => number): Promise<void> {
    return sqsBatches("ChangeMessageVisibilityBatch", held, (url, entries) =>
      sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: entries.map(({ id, h }) => ({ Id: id, ReceiptHandle: h.receiptHandle, VisibilityTimeout: seconds(h) })),
        }),
      ),
    );
  }

  function retrySeconds(outcome: Outcome): number {
    if (outcome.kind !== "retry" || !outcome.delayMs) return 0;
    return Math.min(SQS_MAX_VISIBILITY_SECONDS, Math.ceil(outcome.delayMs / 1000));
  }

  // ------------------------------------------------------------ subscribe

  function sourcesOf(subscription: SubscriptionName): QueueSource[] {
    const main: QueueSource = { queue: config.queues[subscription], pollers: config.pollers };
    if (subscription !== "dlq") return [main];
    // Redrive DLQs carry little traffic: one long poll each is plenty.
    return [main, ...REDRIVEN.map((s) => ({ queue: dlqName(config.queues[s]), deadLetterSource: s, pollers: 1 }))];
  }

  function toHeld(message: SqsMessage, url: string, source: QueueSource): Held {
    const delivery: Delivery = {
      messageId: message.MessageId ?? "",
      body: message.Body ?? "",
      attributes: deliveryAttributes(message),
      attempt: Math.max(1, Number(message.Attributes?.ApproximateReceiveCount ?? 1) || 1),
    };
    if (source.deadLetterSource) delivery.deadLetterSource = source.deadLetterSource;
    return { queueUrl: url, receiptHandle: message.ReceiptHandle ?? "", delivery, settling: false };
  }

  function subscribe(subscription: SubscriptionName, handler: BatchHandler, options: SubscribeOptions): Subscriber {
    if (closed) throw new TransportError("sns-sqs transport is closed", false);
    const maxBatch = Math.max(1, options.maxBatch);
    const concurrency = Math.max(1, options.concurrency ?? 1);
    // Messages held at once (buffered + in handlers): enough to fill every handler slot plus one batch ahead.
    const capacity = Math.max(SQS_BATCH_ENTRIES, maxBatch * (concurrency + 1));
    const visibility = Math.max(1, config.visibilityTimeoutSeconds);
    // `stop` ends waits and backoffs at once; `abortCalls` cuts in-flight long polls only if they overrun.
    const stop = new AbortController();
    const abortCalls = new AbortController();
    const held = new Set<Held>();
    const buffer: Held[] = [];
    const pollStates: PollState[] = [];
    const space = new Signal();
    const idle = new Signal();
    let reserved = 0;
    let inflight = 0;
    let stopping = false;
    let lingerTimer: ReturnType<typeof setTimeout> | undefined;
    let lingerDue = false;
    let heartbeat: Promise<void> = Promise.resolve();
    let closing: Promise<void> | undefined;

    /** Claims up to 10 receive slots within capacity; 0 once stopping. */
    async function reserve(): Promise<number> {
      for (;;) {
        if (stopping) return 0;
        const free = capacity - held.size - reserved;
        if (free > 0) {
          const want = Math.min(SQS_BATCH_ENTRIES, free);
          reserved += want;
          return want;
        }
        await space.wait(stop.signal, 1000);
      }
    }

    /** Returns how many messages the poll brought. */
    async function receive(source: QueueSource, want: number): Promise<number> {
      const url = await queueUrl(source.queue);
      const answer = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: want,
          WaitTimeSeconds: config.waitTimeSeconds,
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
          MessageAttributeNames: ["All"],
        }),
        { abortSignal: abortCalls.signal },
      );
      for (const message of answer.Messages ?? []) {
        const h = toHeld(message, url, source);
        held.add(h);
        buffer.push(h);
      }
      return answer.Messages?.length ?? 0;
    }

    /**
     * The first poller of a queue always polls; the others only while polls come back full (a backlog is waiting),
     * so a queue that trickles costs one request per arrival rather than one per poller.
     */
    async function poll(source: QueueSource, index: number, state: PollState): Promise<void> {
      let failures = 0;
      for (;;) {
        while (index > 0 && !state.busy && !stopping) await state.wake.wait(stop.signal);
        const want = await reserve();
        if (want === 0) return;
        try {
          const got = await receive(source, want);
          state.busy = got >= want;
          if (state.busy) state.wake.notify();
          if (got > 0) pump();
          failures = 0;
        } catch (error) {
          if (stopping) return;
          failures++;
          const wrapped = wrap(error, `SQS ReceiveMessage from "${source.queue}"`);
          log.warn({ subscription, queue: source.queue, error: wrapped.message, retryable: wrapped.retryable, failures }, "sqs receive failed; backing off");
          await sleep(backoffMs(failures), stop.signal);
        } finally {
          reserved -= want;
        }
      }
    }

    /**
     * Hands buffered messages to the handler: full batches at once; a partial one after LINGER_MS while polls come
     * back full (more is on its way), at once otherwise (waiting would only add latency).
     */
    function pump(): void {
      while (!stopping && inflight < concurrency && buffer.length > 0) {
        if (buffer.length < maxBatch && !lingerDue && pollStates.some((s) => s.busy)) {
          lingerTimer ??= setTimeout(() => {
            lingerTimer = undefined;
            lingerDue = true;
            pump();
          }, LINGER_MS);
          return;
        }
        const batch = buffer.splice(0, maxBatch);
        if (buffer.length === 0) lingerDue = false;
        void run(batch);
      }
    }

    async function handle(batch: Held[]): Promise<Outcome[]> {
      try {
        const outcomes = await handler(batch.map((h) => h.delivery));
        if (outcomes.length !== batch.length) {
          log.error({ subscription, expected: batch.length, got: outcomes.length }, "handler returned the wrong number of outcomes; missing ones are retried");
        }
        return batch.map((_, i) => outcomes[i] ?? { kind: "retry" });
      } catch (error) {
        log.error({ subscription, error: String(error), count: batch.length }, "handler threw; retrying its batch");
        return batch.map(() => ({ kind: "retry" }));
      }
    }

    async function settle(batch: Held[], outcomes: Outcome[]): Promise<void> {
      for (const h of batch) h.settling = true;
      // A lease extension racing a retry could push the retry out by a whole visibility timeout.
      await heartbeat;
      const acked = batch.filter((_, i) => outcomes[i]!.kind === "ack");
      const delays = new Map(batch.flatMap((h, i) => (outcomes[i]!.kind === "ack" ? [] : [[h, retrySeconds(outcomes[i]!)] as const])));
      await Promise.all([deleteMessages(acked), changeVisibility([...delays.keys()], (h) => delays.get(h) ?? 0)]);
    }

    async function run(batch: Held[]): Promise<void> {
      inflight++;
      try {
        await settle(batch, await handle(batch));
      } finally {
        for (const h of batch) held.delete(h);
        inflight--;
        space.notify();
        idle.notify();
        pump();
      }
    }

    /** Keeps every held message invisible while it waits or is handled. */
    const heartbeatTimer = setInterval(() => {
      const live = [...held].filter((h) => !h.settling);
      if (live.length === 0) return;
      heartbeat = changeVisibility(live, () => visibility);
    }, (visibility * 1000) / 2);

    const pollers = sourcesOf(subscription).flatMap((source) => {
      const state: PollState = { busy: false, wake: new Signal() };
      pollStates.push(state);
      return Array.from({ length: source.pollers }, (_, i) => poll(source, i, state));
    });

    async function close(): Promise<void> {
      closing ??= (async () => {
        stopping = true;
        if (lingerTimer) clearTimeout(lingerTimer);
        stop.abort();
        space.notify();
        // Let running polls answer and release what they bring; then abort the idle ones. A long poll cut off
        // client-side may still take a message that arrives in its remaining wait on the server: hidden for the
        // visibility timeout, then redelivered with its receive count up by one (delayed, not lost).
        const polling = Promise.all(pollers);
        const grace = new AbortController();
        await Promise.race([polling, sleep(Math.min(config.waitTimeSeconds * 1000, CLOSE_POLL_WAIT_MS), grace.signal)]);
        grace.abort();
        abortCalls.abort();
        await polling;
        // Not yet handed to the handler: make them visible again for the next consumer.
        const unhandled = buffer.splice(0);
        for (const h of unhandled) h.settling = true;
        await heartbeat;
        await changeVisibility(unhandled, () => 0);
        for (const h of unhandled) held.delete(h);
        while (inflight > 0) await idle.wait();
        clearInterval(heartbeatTimer);
        subscribers.delete(subscriber);
      })();
      return closing;
    }

    const subscriber: Subscriber = { subscription, close };
    subscribers.add(subscriber);
    return subscriber;
  }

  // ------------------------------------------------------------ provision / teardown

  async function ensureTopic(name: string): Promise<{ arn: string; step: ProvisionStep }> {
    const resource = `sns topic ${name}`;
    const existing = await topicArn(name).catch(() => undefined);
    if (existing) return { arn: existing, step: { resource, action: "exists" } };
    const answer = await sns.send(new CreateTopicCommand({ Name: name }));
    topicArns.set(name, answer.TopicArn!);
    return { arn: answer.TopicArn!, step: { resource, action: "created" } };
  }

  async function queueArnOf(url: string): Promise<string> {
    const answer = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
    return answer.Attributes!.QueueArn!;
  }

  /** Creates the queue with `attributes`, or brings an existing one's attributes in line. */
  async function ensureQueue(name: string, attributes: Record<string, string>): Promise<{ url: string; arn: string; step: ProvisionStep }> {
    const resource = `sqs queue ${name}`;
    let url: string | undefined;
    try {
      url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    } catch (error) {
      if (!isQueueMissing(error)) throw error;
    }
    if (!url) {
      url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
      return { url, arn: await queueArnOf(url), step: { resource, action: "created" } };
    }
    const current: Record<string, string | undefined> =
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }))).Attributes ?? {};
    const changed = Object.entries(attributes).filter(([key, value]) => !sameAttribute(key, current[key], value));
    if (changed.length > 0) await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: Object.fromEntries(changed) }));
    return { url, arn: current.QueueArn ?? (await queueArnOf(url)), step: { resource, action: changed.length > 0 ? "updated" : "exists" } };
  }

  function sameAttribute(key: string, current: string | undefined, wanted: string): boolean {
    if (key === "RedrivePolicy") return sameRedrive(current, JSON.parse(wanted));
    if (key === "Policy") return sameJson(current, wanted);
    return current === wanted;
  }

  /** The queue policy needs the queue's own ARN, so it is set once the queue exists. */
  async function ensurePolicy(url: string, queueArn: string, topicArnValue: string, step: ProvisionStep): Promise<ProvisionStep> {
    const policy = queuePolicy(queueArn, topicArnValue);
    const current = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["Policy"] }))).Attributes?.Policy;
    if (sameJson(current, policy)) return step;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: policy } }));
    return step.action === "exists" ? { ...step, action: "updated" } : step;
  }

  async function findSubscription(topic: string, queueArn: string): Promise<string | undefined> {
    let token: string | undefined;
    do {
      const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic, NextToken: token }));
      const found = page.Subscriptions?.find((s) => s.Protocol === "sqs" && s.Endpoint === queueArn);
      if (found?.SubscriptionArn) return found.SubscriptionArn;
      token = page.NextToken;
    } while (token);
    return undefined;
  }

  async function ensureSubscription(topicName: string, topic: string, queueName: string, queueArn: string): Promise<ProvisionStep> {
    const resource = `sns subscription ${topicName} -> ${queueName}`;
    const raw = String(config.rawDelivery);
    const existing = await findSubscription(topic, queueArn);
    if (!existing) {
      await sns.send(
        new SubscribeCommand({ TopicArn: topic, Protocol: "sqs", Endpoint: queueArn, Attributes: { RawMessageDelivery: raw }, ReturnSubscriptionArn: true }),
      );
      return { resource, action: "created" };
    }
    const attributes = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: existing }))).Attributes ?? {};
    if ((attributes.RawMessageDelivery ?? "false") === raw) return { resource, action: "exists" };
    await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn: existing, AttributeName: "RawMessageDelivery", AttributeValue: raw }));
    return { resource, action: "updated" };
  }

  async function provisionSubscription(subscription: SubscriptionName, topics: Map<TopicName, string>): Promise<ProvisionStep[]> {
    const steps: ProvisionStep[] = [];
    const queueName = config.queues[subscription];
    const attributes: Record<string, string> = { VisibilityTimeout: String(config.visibilityTimeoutSeconds) };
    if (REDRIVEN.includes(subscription)) {
      const dlq = await ensureQueue(dlqName(queueName), { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) });
      steps.push(dlq.step);
      attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: config.maxReceiveCount });
    }
    const topicName = config.topics[TOPIC_OF_SUBSCRIPTION[subscription]];
    const topic = topics.get(TOPIC_OF_SUBSCRIPTION[subscription])!;
    const queue = await ensureQueue(queueName, attributes);
    steps.push(await ensurePolicy(queue.url, queue.arn, topic, queue.step));
    steps.push(await ensureSubscription(topicName, topic, queueName, queue.arn));
    return steps;
  }

  async function provision(): Promise<ProvisionStep[]> {
    try {
      const steps: ProvisionStep[] = [];
      const topics = new Map<TopicName, string>();
      for (const topic of TOPICS) {
        const { arn, step } = await ensureTopic(config.topics[topic]);
        topics.set(topic, arn);
        steps.push(step);
      }
      for (const subscription of SUBSCRIPTIONS) steps.push(...(await provisionSubscription(subscription, topics)));
      return steps;
    } catch (error) {
      throw wrap(error, "provision SNS+SQS");
    }
  }

  async function deleteQueue(name: string): Promise<ProvisionStep> {
    const resource = `sqs queue ${name}`;
    queueUrls.delete(name);
    try {
      const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
      await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
      return { resource, action: "deleted" };
    } catch (error) {
      if (isNotFound(error)) return { resource, action: "absent" };
      throw error;
    }
  }

  /** Unsubscribes every SQS subscription of the topic, then deletes it. */
  async function deleteTopic(name: string): Promise<ProvisionStep[]> {
    const arn = await topicArn(name).catch(() => undefined);
    topicArns.delete(name);
    if (!arn) return [{ resource: `sns topic ${name}`, action: "absent" }];
    const steps: ProvisionStep[] = [];
    let token: string | undefined;
    do {
      const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn, NextToken: token }));
      for (const s of page.Subscriptions ?? []) {
        if (s.Protocol !== "sqs" || !s.SubscriptionArn?.startsWith("arn:")) continue;
        await sns.send(new UnsubscribeCommand({ SubscriptionArn: s.SubscriptionArn }));
        steps.push({ resource: `sns subscription ${name} -> ${s.Endpoint?.split(":").pop()}`, action: "deleted" });
      }
      token = page.NextToken;
    } while (token);
    await sns.send(new DeleteTopicCommand({ TopicArn: arn }));
    steps.push({ resource: `sns topic ${name}`, action: "deleted" });
    return steps;
  }

  async function teardown(): Promise<ProvisionStep[]> {
    try {
      const steps: ProvisionStep[] = [];
      for (const topic of TOPICS) steps.push(...(await deleteTopic(config.topics[topic])));
      for (const subscription of SUBSCRIPTIONS) {
        steps.push(await deleteQueue(config.queues[subscription]));
        if (REDRIVEN.includes(subscription)) steps.push(await deleteQueue(dlqName(config.queues[subscription])));
      }
      return steps;
    } catch (error) {
      throw wrap(error, "teardown SNS+SQS");
    }
  }

  // ------------------------------------------------------------ lifecycle

  async function ping(signal?: AbortSignal): Promise<void> {
    try {
      await sns.send(new ListTopicsCommand({}), { abortSignal: signal });
    } catch (error) {
      throw wrap(error, `SNS ListTopics (${config.snsEndpoint ?? `region ${config.region}`})`);
    }
  }

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      closed = true;
      await Promise.all([...subscribers].map((s) => s.close()));
      sns.destroy();
      sqs.destroy();
    })();
    return closing;
  }

  return { kind: "sns-sqs", maxMessageBytes: SNS_BATCH_BYTES, publish, subscribe, ping, provision, teardown, close };
}
