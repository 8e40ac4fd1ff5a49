// Consuming a Pub/Sub subscription: streaming pull with flow control, batches to the handler, delayed nacks, reopening.
import { Duration, SubscriptionCloseBehaviors } from "@google-cloud/pubsub";
import type { Message, PubSub, Subscription } from "@google-cloud/pubsub";
import type { PubsubConfig } from "../../config/types.ts";
import { pause as sleep } from "../../util/pause.ts";
import { backoffMs } from "../../util/retry.ts";
import { Signal } from "../../util/signal.ts";
import { callHandler } from "../handler.ts";
import { SUBSCRIPTIONS, type BatchHandler, type Delivery, type Outcome, type SubscribeOptions } from "../types.ts";
import type { Subscriber, SubscriptionName, TransportLogger } from "../types.ts";
import { ackCallBudgetMs, boundedCall } from "./calls.ts";
import { errorText, wrap, type GrpcLikeError } from "./errors.ts";

/** How often a subscriber's failing stream is logged while its retries go on. */
const STREAM_WARN_MS = 30_000;
/** StreamingPull re-open backoff of the client (defaults: 100 ms doubling up to 60 s), capped as the channel's is. */
const STREAM_RETRY_MIN = Duration.from({ milliseconds: 100 });
const STREAM_RETRY_MAX = Duration.from({ seconds: 2 });
/** How long a partial handler batch waits for more messages before it is handed over. */
const LINGER_MS = 50;
/** Pub/Sub has no per-message redelivery delay: a delayed retry keeps its lease this long at most, then nacks. */
const MAX_RETRY_HOLD_MS = 60_000;
/** On close, how long the client waits for in-flight handlers to ack/nack before nacking what is left. */
const CLOSE_TIMEOUT = Duration.from({ minutes: 10 });
/** Reopening a stream the client closed: 500 ms after the first close, doubling up to 10 s (no jitter). */
const REOPEN_BACKOFF = { baseMs: 500, maxMs: 10_000, jitter: 0 };
const DEAD_LETTER_SOURCE_ATTRIBUTE = "CloudPubSubDeadLetterSourceSubscription";

function deadLetterSource(config: PubsubConfig, attributes: Record<string, string>): SubscriptionName | undefined {
  const source = attributes[DEAD_LETTER_SOURCE_ATTRIBUTE];
  if (!source) return undefined;
  const name = source.slice(source.lastIndexOf("/") + 1);
  return SUBSCRIPTIONS.find((s) => s !== "dlq" && config.subscriptions[s] === name);
}

function toDelivery(config: PubsubConfig, message: Message, subscription: SubscriptionName): Delivery {
  const attributes = { ...message.attributes };
  const delivery: Delivery = {
    messageId: message.id,
    body: message.data.toString("utf8"),
    attributes,
    // deliveryAttempt is 0 unless the subscription has a dead-letter policy.
    attempt: Math.max(1, message.deliveryAttempt || 1),
  };
  const source = subscription === "dlq" ? deadLetterSource(config, attributes) : undefined;
  if (source) delivery.deadLetterSource = source;
  return delivery;
}

/** Consumes one logical subscription; `onClose` runs once the subscriber has settled everything it held. */
export function subscribeStream(
  client: PubSub,
  config: PubsubConfig,
  log: TransportLogger,
  subscription: SubscriptionName,
  handler: BatchHandler,
  options: SubscribeOptions,
  onClose: (s: Subscriber) => void,
): Subscriber {
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
    streamingOptions: {
      maxStreams: config.streams,
      retryMinBackoff: STREAM_RETRY_MIN,
      retryMaxBackoff: STREAM_RETRY_MAX,
    },
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
      const deliveries = batch.map((m) => toDelivery(config, m, subscription));
      const outcomes = await callHandler(handler, deliveries, subscription, log);
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
  async function onStreamClose(): Promise<void> {
    if (stopping) return;
    failures++;
    const wait = backoffMs(failures, REOPEN_BACKOFF);
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
    const call = stream ? "streaming pull from" : "acknowledgement on";
    const error = `Pub/Sub ${call} "${name}"${where}: ${errorText(msg.error)}`;
    const text = stream
      ? "pubsub subscriber stream failed; the client retries it"
      : "pubsub acknowledgement failed; a message left unacknowledged is redelivered";
    log.warn({ subscription, error }, text);
  }

  sub.on("message", onMessage);
  sub.on("debug", onDebug);
  sub.on("error", onError);
  sub.on("close", () => void onStreamClose());

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
      onClose(subscriber);
    })();
    return closing;
  }

  const subscriber: Subscriber = { subscription, close };
  return subscriber;
}
