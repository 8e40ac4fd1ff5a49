// Google Cloud Pub/Sub transport: batched publishing, streaming pull with flow control, dead-letter policies.
// On real Pub/Sub, dead-lettering also needs the project's Pub/Sub service agent to hold publisher on the
// dead-letter topic and subscriber on the consumer subscriptions; provision does not grant IAM roles.
import {
  Duration,
  PubSub,
  SubscriptionCloseBehaviors,
  type CallOptions,
  type ClientConfig,
  type CreateSubscriptionOptions,
  type Message,
  type Subscription,
  type Topic,
} from "@google-cloud/pubsub";
import type { PubsubConfig } from "../config/types.ts";
import {
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

export interface PubsubOptions {
  /** Unused by this transport beyond the client's own retry settings; kept for a uniform factory signature. */
  maxAttempts?: number;
  logger?: TransportLogger;
}

const SUBSCRIPTIONS: readonly SubscriptionName[] = ["order", "analytics", "payment", "dlq"];
const TOPICS: readonly TopicName[] = ["orders", "payments", "deadletters", "alerts"];
const PUBLISH_BATCH_MESSAGES = 1000;
// How often a subscriber's failing stream is logged while its retries go on.
const STREAM_WARN_MS = 30_000;
// A message's data and attributes may weigh 10 MB at most.
const MAX_MESSAGE_BYTES = 10_000_000;
const PUBLISH_BATCH_MS = 10;
// Bounds a publish including the client's own retries (its default is 10 minutes): while the broker is away a
// publish settles as a retryable failure within this, and the relay retries it (rather than one call hanging).
export const PUBLISH_TIMEOUT_MS = 15_000;
// The client's retry delays (google-gax): its defaults grow x4 (Publish) or x1.3 (Acknowledge, ModifyAckDeadline) up
// to 60 s, and the total timeout is checked only after a delay has run, so a call begun during an outage could sleep
// far past its timeout and past the broker's return (measured through a cut proxy: a publish begun at the cut settled
// 16-65 s later, up to 45 s after the broker was back, holding the relay). Capped, a call settles within its budget
// plus one RETRY_DELAY_MAX_MS (measured: 15.2-15.9 s).
export const RETRY_DELAY_MAX_MS = 1_000;
// Our own bound on a publish, in case the client still does not settle: the relay must get its answer.
const PUBLISH_GUARD_MS = PUBLISH_TIMEOUT_MS + 5_000;
// gRPC channel reconnect backoff (grpc-js defaults: 1 s growing x1.6 up to 120 s, so after a 20 s outage the next
// attempt could be 10+ s away). Capped so publish and streaming pull come back within ~2 s of the broker.
const RECONNECT_INITIAL_MS = 250;
const RECONNECT_MAX_MS = 2_000;
// StreamingPull re-open backoff of the client (defaults: 100 ms doubling up to 60 s), capped the same way.
const STREAM_RETRY_MIN = Duration.from({ milliseconds: 100 });
const STREAM_RETRY_MAX = Duration.from({ seconds: 2 });
const ADMIN_TIMEOUT_MS = 30_000;
// How long a partial handler batch waits for more messages before it is handed over.
const LINGER_MS = 50;
// Pub/Sub has no per-message redelivery delay: a delayed retry keeps its lease this long at most, then nacks.
const MAX_RETRY_HOLD_MS = 60_000;
// On close, how long the client waits for in-flight handlers to ack/nack before nacking what is left.
const CLOSE_TIMEOUT = Duration.from({ minutes: 10 });
const REOPEN_BASE_MS = 250;
const REOPEN_MAX_MS = 10_000;
const DEAD_LETTER_SOURCE_ATTRIBUTE = "CloudPubSubDeadLetterSourceSubscription";

const silentLogger: TransportLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Call options bounding a unary call and its retries to `budgetMs`, with delays of at most RETRY_DELAY_MAX_MS. */
export function boundedCall(budgetMs: number): CallOptions {
  return {
    timeout: budgetMs,
    retry: {
      backoffSettings: {
        initialRetryDelayMillis: 100,
        retryDelayMultiplier: 2,
        maxRetryDelayMillis: RETRY_DELAY_MAX_MS,
        initialRpcTimeoutMillis: budgetMs,
        rpcTimeoutMultiplier: 1,
        maxRpcTimeoutMillis: budgetMs,
        totalTimeoutMillis: budgetMs,
      },
    },
  };
}

/**
 * The budget of an ack or lease-extension call. The client measures how long a lease extension takes, retries
 * included, and schedules the next one (0.9 x ack deadline - the 99th percentile of that latency) x random later. A
 * call that waited out an outage (the client's default budget is 60 s) made that negative (measured: latency 22.1 s,
 * next extension -13.1 s with a 10 s deadline; Node clamps it to 1 ms and warns TimeoutNegativeWarning, seen in the
 * outage test), so extensions ran back to back until the slow sample left the percentile. Half the ack deadline, plus
 * one retry delay and the 100 ms batching, stays below 0.9 x the deadline (measured: at most 6.1 s with 10 s); an ack
 * that fails within it is lost and the message comes back (the inbox dedupes), as before.
 */
export function ackCallBudgetMs(ackDeadlineSeconds: number): number {
  return Math.min(60_000, Math.floor((ackDeadlineSeconds * 1000) / 2));
}

// gRPC status codes (google.rpc.Code).
const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;
const RETRYABLE_CODES = new Set([
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  13, // INTERNAL
  14, // UNAVAILABLE
]);

// ---------------------------------------------------------------- errors

interface GrpcLikeError {
  code?: number | string;
  details?: string;
  message?: string;
  name?: string;
  /** PublishError (ordering keys) wraps the gRPC error here. */
  error?: GrpcLikeError;
}

function grpcCode(error: unknown): number | undefined {
  const e = (error ?? {}) as GrpcLikeError;
  if (typeof e.code === "number") return e.code;
  if (e.error && typeof e.error.code === "number") return e.error.code;
  return undefined;
}

/** UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED and INTERNAL are worth another try. */
export function isRetryablePubsubError(error: unknown): boolean {
  const code = grpcCode(error);
  if (code !== undefined) return RETRYABLE_CODES.has(code);
  const e = (error ?? {}) as GrpcLikeError;
  return typeof e.code === "string" && /^E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT|AI_AGAIN|HOSTUNREACH|NETUNREACH)$/.test(e.code);
}

/**
 * A gRPC error's text without grpc-js's resolution notes and gax's list of earlier tries (a failed call retried until
 * its timeout repeats every attempt's error: kilobytes of the same line).
 */
export function briefGrpcText(text: string): string {
  const last = /retrying error Error: (.*)$/s.exec(text)?.[1] ?? text;
  const brief = last.replace(/\s*:?\s*Previous errors\s*:.*$/s, "").replace(/\.?\s*Resolution note:.*$/s, "").trim();
  return brief.length > 300 ? `${brief.slice(0, 300)}...` : brief;
}

/** What an error says, briefly (see briefGrpcText). */
function errorText(error: unknown): string {
  const e = (error ?? {}) as GrpcLikeError;
  return briefGrpcText(e.details || e.message || String(error));
}

function wrap(error: unknown, what: string, messageIds?: string[]): TransportError {
  if (error instanceof TransportError) return error;
  const hint = grpcCode(error) === NOT_FOUND ? "; run `ecom provision` to create it" : "";
  return new TransportError(`${what}: ${errorText(error)}${hint}`, isRetryablePubsubError(error), {
    cause: error,
    messageIds,
  });
}

// ---------------------------------------------------------------- small helpers


/** Rejects when the signal aborts (a string reason says why); otherwise settles like `promise`. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new TransportError(`${what}: ${typeof signal.reason === "string" ? signal.reason : "aborted"}`, true, { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

// ---------------------------------------------------------------- transport

export function createPubsubTransport(config: PubsubConfig, opts: PubsubOptions = {}): Transport {
  const log = opts.logger ?? silentLogger;
  const clientOptions: ClientConfig = {
    projectId: config.projectId,
    // Passed through to the gRPC channels (gax forwards `grpc.*` keys).
    "grpc.initial_reconnect_backoff_ms": RECONNECT_INITIAL_MS,
    "grpc.max_reconnect_backoff_ms": RECONNECT_MAX_MS,
  } as ClientConfig;
  // The configured emulator wins over PUBSUB_EMULATOR_HOST (the client reads that only without apiEndpoint).
  // A fixed universeDomain stops google-auth from probing the GCE metadata server for credentials the emulator ignores.
  if (config.emulatorHost) {
    Object.assign(clientOptions, { apiEndpoint: config.emulatorHost, emulatorMode: true, universeDomain: "googleapis.com" });
  }
  const client = new PubSub(clientOptions);
  const topics = new Map<TopicName, Topic>();
  const subscribers = new Set<Subscriber>();
  let closed = false;

  const topicPath = (name: string) => `projects/${config.projectId}/topics/${name}`;
  const gaxOpts = { timeout: ADMIN_TIMEOUT_MS };

  function topicOf(topic: TopicName): Topic {
    let handle = topics.get(topic);
    if (!handle) {
      handle = client.topic(config.topics[topic], {
        batching: { maxMessages: PUBLISH_BATCH_MESSAGES, maxMilliseconds: PUBLISH_BATCH_MS },
        messageOrdering: config.ordering,
        gaxOpts: boundedCall(PUBLISH_TIMEOUT_MS),
      });
      topics.set(topic, handle);
    }
    return handle;
  }

  // ------------------------------------------------------------ publish

  async function publishOne(message: OutgoingMessage): Promise<void> {
    const topic = topicOf(message.topic);
    const orderingKey = config.ordering && message.orderingKey ? message.orderingKey : undefined;
    try {
      await topic.publishMessage({ data: Buffer.from(message.body), attributes: message.attributes, orderingKey });
    } catch (error) {
      // A failed ordered publish pauses its key until resumed; the relay republishes what we report failed.
      if (orderingKey) topic.resumePublishing(orderingKey);
      throw error;
    }
  }

  async function publish(messages: OutgoingMessage[], signal?: AbortSignal): Promise<PublishResult> {
    if (closed) throw new TransportError("pubsub transport is closed", false, { messageIds: messages.map((m) => m.id) });
    const failed: PublishResult["failed"] = [];
    const settled = new Set<string>();
    const all = Promise.all(
      messages.map((message) =>
        publishOne(message).then(
          () => void settled.add(message.id),
          (error) => {
            settled.add(message.id);
            failed.push({ id: message.id, error: wrap(error, `Pub/Sub publish to ${config.topics[message.topic]}`, [message.id]) });
          },
        ),
      ),
    );
    const guard = new AbortController();
    const timer = setTimeout(() => guard.abort(`no answer within ${PUBLISH_GUARD_MS} ms`), PUBLISH_GUARD_MS);
    try {
      await abortable(all, signal ? AbortSignal.any([signal, guard.signal]) : guard.signal, "Pub/Sub publish");
    } catch (error) {
      // Aborted: whatever is still in flight is unconfirmed (it may still arrive: consumers dedupe on the id).
      const aborted = wrap(error, "Pub/Sub publish");
      for (const message of messages) if (!settled.has(message.id)) failed.push({ id: message.id, error: aborted });
    } finally {
      clearTimeout(timer);
    }
    return { failed };
  }

  // ------------------------------------------------------------ subscribe

  function deadLetterSource(attributes: Record<string, string>): SubscriptionName | undefined {
    const source = attributes[DEAD_LETTER_SOURCE_ATTRIBUTE];
    if (!source) return undefined;
    const name = source.slice(source.lastIndexOf("/") + 1);
    return SUBSCRIPTIONS.find((s) => s !== "dlq" && config.subscriptions[s] === name);
  }

  function toDelivery(message: Message, subscription: SubscriptionName): Delivery {
    const attributes = { ...message.attributes };
    const delivery: Delivery = {
      messageId: message.id,
      body: message.data.toString("utf8"),
      attributes,
      // deliveryAttempt is 0 unless the subscription has a dead-letter policy.
      attempt: Math.max(1, message.deliveryAttempt || 1),
    };
    const source = subscription === "dlq" ? deadLetterSource(attributes) : undefined;
    if (source) delivery.deadLetterSource = source;
    return delivery;
  }

  function subscribe(subscription: SubscriptionName, handler: BatchHandler, options: SubscribeOptions): Subscriber {
    if (closed) throw new TransportError("pubsub transport is closed", false);
    const maxBatch = Math.max(1, options.maxBatch);
    const concurrency = Math.max(1, options.concurrency ?? 1);
    const name = config.subscriptions[subscription];
    // Leases are extended in steps of exactly the configured ack deadline: the client would otherwise grow its
    // extensions with the observed ack latency (up to 10 minutes), and a consumer that dies holding messages
    // would keep them from everyone else that long. With min = max, they come back within one ack deadline.
    const ackDeadline = Duration.from({ seconds: config.ackDeadlineSeconds });
    const sub: Subscription = client.subscription(name, {
      minAckDeadline: ackDeadline,
      maxAckDeadline: ackDeadline,
      streamingOptions: { maxStreams: config.streams, retryMinBackoff: STREAM_RETRY_MIN, retryMaxBackoff: STREAM_RETRY_MAX },
      flowControl: { maxMessages: config.maxMessages, allowExcessMessages: false },
      batching: { callOptions: boundedCall(ackCallBudgetMs(config.ackDeadlineSeconds)) },
      closeOptions: { behavior: SubscriptionCloseBehaviors.WaitForProcessing, timeout: CLOSE_TIMEOUT },
    });
    const buffer: Message[] = [];
    const delayed = new Map<Message, ReturnType<typeof setTimeout>>();
    const idle = new Signal();
    const stop = new AbortController();
    let inflight = 0;
    let stopping = false;
    let lingerTimer: ReturnType<typeof setTimeout> | undefined;
    let lingerDue = false;
    let failures = 0;
    let streamWarnedAt = 0;
    let closing: Promise<void> | undefined;

    /** Hands buffered messages to the handler: full batches at once, a partial one after LINGER_MS. */
    function pump(): void {
      while (!stopping && inflight < concurrency && buffer.length > 0) {
        if (buffer.length < maxBatch && !lingerDue) {
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

    async function handle(batch: Message[]): Promise<Outcome[]> {
      try {
        const outcomes = await handler(batch.map((m) => toDelivery(m, subscription)));
        if (outcomes.length !== batch.length) {
          log.error({ subscription, expected: batch.length, got: outcomes.length }, "handler returned the wrong number of outcomes; missing ones are retried");
        }
        return batch.map((_, i) => outcomes[i] ?? { kind: "retry" });
      } catch (error) {
        log.error({ subscription, error: String(error), count: batch.length }, "handler threw; retrying its batch");
        return batch.map(() => ({ kind: "retry" }));
      }
    }

    function settle(message: Message, outcome: Outcome): void {
      if (outcome.kind === "ack") return message.ack();
      const delay = Math.min(MAX_RETRY_HOLD_MS, outcome.delayMs ?? 0);
      if (delay <= 0 || stopping) return message.nack();
      // The client keeps extending the lease meanwhile, so nobody else gets it before the delay.
      delayed.set(message, setTimeout(() => {
        delayed.delete(message);
        message.nack();
      }, delay));
    }

    async function run(batch: Message[]): Promise<void> {
      inflight++;
      try {
        const outcomes = await handle(batch);
        batch.forEach((message, i) => settle(message, outcomes[i]!));
      } finally {
        inflight--;
        idle.notify();
        pump();
      }
    }

    function onMessage(message: Message): void {
      failures = 0;
      if (stopping) return message.nack();
      buffer.push(message);
      pump();
    }

    function onError(error: unknown): void {
      const wrapped = wrap(error, `Pub/Sub streaming pull from "${name}"`);
      log.warn({ subscription, error: wrapped.message, retryable: wrapped.retryable }, "pubsub subscriber error");
    }

    /** The client closes the stream on a non-retryable error (e.g. NOT_FOUND): reopen with backoff. */
    async function onClose(): Promise<void> {
      if (stopping) return;
      failures++;
      const wait = Math.min(REOPEN_MAX_MS, REOPEN_BASE_MS * 2 ** Math.min(failures, 8));
      log.warn({ subscription, failures, waitMs: wait }, "pubsub subscriber stream closed; reopening");
      await sleep(wait, stop.signal);
      if (!stopping && !sub.isOpen) sub.open();
    }

    /**
     * The client retries a failed stream (and failed acks) by itself and says so only in 'debug' events (an unreachable
     * endpoint gives no 'error' at all): warn with the reason, at most every STREAM_WARN_MS while it lasts.
     */
    function onDebug(msg: { message: string; error?: Error & GrpcLikeError }): void {
      if (!msg.error || stopping) return;
      const now = Date.now();
      if (now - streamWarnedAt < STREAM_WARN_MS) return;
      streamWarnedAt = now;
      const where = config.emulatorHost ? ` at ${config.emulatorHost}` : "";
      const stream = msg.message.startsWith("Subscriber stream");
      const error = `Pub/Sub ${stream ? "streaming pull from" : "acknowledgement on"} "${name}"${where}: ${errorText(msg.error)}`;
      log.warn({ subscription, error }, stream ? "pubsub subscriber stream failed; the client retries it" : "pubsub acknowledgement failed; a message left unacknowledged is redelivered");
    }

    sub.on("message", onMessage);
    sub.on("debug", onDebug);
    sub.on("error", onError);
    sub.on("close", () => void onClose());

    async function close(): Promise<void> {
      closing ??= (async () => {
        stopping = true;
        stop.abort();
        if (lingerTimer) clearTimeout(lingerTimer);
        for (const message of buffer.splice(0)) message.nack();
        for (const [message, timer] of delayed) {
          clearTimeout(timer);
          message.nack();
        }
        delayed.clear();
        // The stream stops at once; the client then waits for in-flight handlers to settle their messages.
        const waitHandlers = (async () => {
          while (inflight > 0) await idle.wait();
        })();
        await Promise.all([sub.close().catch((error) => onError(error)), waitHandlers]);
        sub.removeAllListeners();
        subscribers.delete(subscriber);
      })();
      return closing;
    }

    const subscriber: Subscriber = { subscription, close };
    subscribers.add(subscriber);
    return subscriber;
  }

  // ------------------------------------------------------------ provision / teardown

  async function ensureTopic(name: string): Promise<ProvisionStep> {
    const resource = `pubsub topic ${name}`;
    try {
      await client.createTopic(name, gaxOpts);
      return { resource, action: "created" };
    } catch (error) {
      if (grpcCode(error) === ALREADY_EXISTS) return { resource, action: "exists" };
      throw error;
    }
  }

  function wantedSubscription(subscription: SubscriptionName): CreateSubscriptionOptions {
    const wanted: CreateSubscriptionOptions = {
      ackDeadlineSeconds: config.ackDeadlineSeconds,
      enableMessageOrdering: config.ordering,
      gaxOpts,
    };
    // The dlq role's own subscription is the last stop: it has no dead-letter policy of its own.
    if (subscription !== "dlq") {
      wanted.deadLetterPolicy = { deadLetterTopic: topicPath(config.topics.deadletters), maxDeliveryAttempts: config.maxDeliveryAttempts };
    }
    return wanted;
  }

  /** Creates the subscription, or brings an existing one's ack deadline and dead-letter policy in line. */
  async function ensureSubscription(subscription: SubscriptionName): Promise<ProvisionStep> {
    const name = config.subscriptions[subscription];
    const resource = `pubsub subscription ${name}`;
    const wanted = wantedSubscription(subscription);
    try {
      await client.topic(config.topics[TOPIC_OF_SUBSCRIPTION[subscription]]).createSubscription(name, wanted);
      return { resource, action: "created" };
    } catch (error) {
      if (grpcCode(error) !== ALREADY_EXISTS) throw error;
    }
    const handle = client.subscription(name);
    const [current] = await handle.getMetadata({ timeout: ADMIN_TIMEOUT_MS });
    if (Boolean(current.enableMessageOrdering) !== config.ordering) {
      log.warn({ subscription: name, ordering: config.ordering }, "message ordering of an existing subscription cannot change: delete it (ecom teardown) and provision again");
    }
    const policy = current.deadLetterPolicy ?? undefined;
    const samePolicy =
      (policy?.deadLetterTopic ?? "") === (wanted.deadLetterPolicy?.deadLetterTopic ?? "") &&
      (policy?.deadLetterTopic ? Number(policy.maxDeliveryAttempts) : 0) === (wanted.deadLetterPolicy?.maxDeliveryAttempts ?? 0);
    if (samePolicy && current.ackDeadlineSeconds === wanted.ackDeadlineSeconds) return { resource, action: "exists" };
    await handle.setMetadata({ ackDeadlineSeconds: wanted.ackDeadlineSeconds, deadLetterPolicy: wanted.deadLetterPolicy ?? null }, { timeout: ADMIN_TIMEOUT_MS });
    return { resource, action: "updated" };
  }

  async function provision(): Promise<ProvisionStep[]> {
    try {
      await listTopics();
    } catch (error) {
      const setting = config.emulatorHost ? " (--pubsub-endpoint or PUBSUB_EMULATOR_HOST)" : "";
      throw new TransportError(`provision Pub/Sub: cannot reach ${config.emulatorHost ?? `Pub/Sub for project ${config.projectId}`}${setting}: ${errorText(error)}`, true, { cause: error });
    }
    try {
      const steps: ProvisionStep[] = [];
      for (const topic of TOPICS) steps.push(await ensureTopic(config.topics[topic]));
      for (const subscription of SUBSCRIPTIONS) steps.push(await ensureSubscription(subscription));
      return steps;
    } catch (error) {
      throw wrap(error, "provision Pub/Sub");
    }
  }

  async function remove(resource: string, del: () => Promise<unknown>): Promise<ProvisionStep> {
    try {
      await del();
      return { resource, action: "deleted" };
    } catch (error) {
      if (grpcCode(error) === NOT_FOUND) return { resource, action: "absent" };
      throw error;
    }
  }

  async function teardown(): Promise<ProvisionStep[]> {
    try {
      const steps: ProvisionStep[] = [];
      for (const s of SUBSCRIPTIONS) {
        const name = config.subscriptions[s];
        steps.push(await remove(`pubsub subscription ${name}`, () => client.subscription(name).delete(gaxOpts)));
      }
      for (const t of TOPICS) {
        const name = config.topics[t];
        steps.push(await remove(`pubsub topic ${name}`, () => client.topic(name).delete(gaxOpts)));
      }
      return steps;
    } catch (error) {
      throw wrap(error, "teardown Pub/Sub");
    }
  }

  // ------------------------------------------------------------ lifecycle

  /** One ListTopics call: whether the broker answers at all. */
  function listTopics(): Promise<unknown> {
    return client.getTopics({ pageSize: 1, autoPaginate: false, gaxOpts: { timeout: 10_000 } });
  }

  async function ping(signal?: AbortSignal): Promise<void> {
    const what = `Pub/Sub ListTopics (${config.emulatorHost ?? `project ${config.projectId}`})`;
    try {
      await abortable(listTopics(), signal, what);
    } catch (error) {
      throw wrap(error, what);
    }
  }

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      closed = true;
      await Promise.all([...subscribers].map((s) => s.close()));
      await Promise.all([...topics.values()].map((t) => t.flush().catch(() => undefined)));
      await client.close();
    })();
    return closing;
  }

  return { kind: "pubsub", maxMessageBytes: MAX_MESSAGE_BYTES, publish, subscribe, ping, provision, teardown, close };
}
