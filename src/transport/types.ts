// The transport port: how messages leave (publish) and arrive (subscribe), whatever the broker.

/** Logical topics of SPEC §2; each transport maps them to its own names. */
export type TopicName = "orders" | "payments" | "deadletters" | "alerts";
/** Logical subscriptions of SPEC §2, one per consuming role. */
export type SubscriptionName = "order" | "analytics" | "payment" | "dlq";

/** Every logical subscription and topic, in the order provision and teardown walk them. */
export const SUBSCRIPTIONS: readonly SubscriptionName[] = ["order", "analytics", "payment", "dlq"];
export const TOPICS: readonly TopicName[] = ["orders", "payments", "deadletters", "alerts"];

export const TOPIC_OF_SUBSCRIPTION: Readonly<Record<SubscriptionName, TopicName>> = Object.freeze({
  order: "orders",
  analytics: "orders",
  payment: "payments",
  dlq: "deadletters",
});

export interface OutgoingMessage {
  /** Envelope id: unique per publish-attempt chain, stable across relay retries (a broker may dedupe on it). */
  id: string;
  topic: TopicName;
  /** UTF-8 JSON text. */
  body: string;
  attributes?: Record<string, string>;
  /** Optional ordering key (Pub/Sub ordering keys, FIFO group ids); transports that lack it ignore it. */
  orderingKey?: string;
}

export interface PublishResult {
  /** Messages the broker did not confirm. Every id of the input NOT listed here was confirmed durable by the broker. */
  failed: { id: string; error: TransportError }[];
}

export interface Delivery {
  /** Broker-assigned message id (informational; the envelope id inside the body is the dedupe key). */
  messageId: string;
  /**
   * Raw body as received, decoded as UTF-8 (may be garbage: roles validate). For SNS-wrapped bodies this is still
   * the raw SQS body: roles unwrap.
   */
  body: string;
  attributes: Record<string, string>;
  /** 1 on the first delivery, counting up on redelivery (when the broker reports it). */
  attempt: number;
  /**
   * Set only on the `dlq` subscription, for a message the broker itself moved there after too many failed
   * deliveries (SQS redrive, Pub/Sub dead-letter policy, local max attempts): the logical subscription it
   * failed on. Application dead letters (published by roles to the deadletters topic) do not have it.
   */
  deadLetterSource?: SubscriptionName;
}

/** What a handler decided for one delivery. `retry` = nack: redeliver later (counts an attempt). */
export type Outcome = { kind: "ack" } | { kind: "retry"; delayMs?: number; reason?: string };

/**
 * Offered with each batch by a transport whose queue lives in the consumer's own SQLite database (the local queue).
 * `ackInTransaction` acks the whole batch with statements on that connection: called inside the transaction that
 * records the batch's effect (inbox, counters), the effect and the ack commit or roll back together, so a crash
 * between them cannot bring the batch back. An all-ack batch acked this way needs no settling afterwards.
 */
export interface TransactionalAck {
  ackInTransaction(): void;
}

/**
 * Handles a batch; returns exactly one outcome per delivery, in the same order.
 * It should not throw; if it does, the transport treats every delivery of the batch as `retry`.
 * While it runs, the transport keeps the lease (visibility/ack deadline) of the batch alive.
 */
export type BatchHandler = (batch: Delivery[], ack?: TransactionalAck) => Promise<Outcome[]>;

export interface SubscribeOptions {
  /** Largest batch handed to the handler at once (the transport may hand smaller ones). */
  maxBatch: number;
  /** Handler calls in flight at once for this subscription (default 1). */
  concurrency?: number;
}

export interface Subscriber {
  readonly subscription: SubscriptionName;
  /** Stop receiving, wait for in-flight handler calls and settle their acks/nacks. Idempotent. */
  close(): Promise<void>;
}

export interface ProvisionStep {
  resource: string;
  action: "created" | "exists" | "updated" | "deleted" | "absent";
}

export interface Transport {
  readonly kind: "local" | "sns-sqs" | "pubsub";
  /** The largest message the broker takes, as `messageBytes` counts it; absent: no limit. */
  readonly maxMessageBytes?: number;
  /**
   * Publish a batch (any size; the transport splits by its own limits). Resolves once every message is either
   * confirmed or listed in `failed`; rejects only for the unexpected. Retryable failures are marked `retryable`.
   */
  publish(messages: OutgoingMessage[], signal?: AbortSignal): Promise<PublishResult>;
  /**
   * Start consuming a logical subscription. At-least-once: a delivery whose outcome is not `ack`, or whose
   * process died before acking, is redelivered (after the visibility timeout); after the configured max
   * attempts the broker moves it to the `dlq` subscription with `deadLetterSource` set.
   * Errors while receiving never escape: the loop logs, backs off and keeps going.
   */
  subscribe(subscription: SubscriptionName, handler: BatchHandler, options: SubscribeOptions): Subscriber;
  /** Readiness: resolves when the broker answers, rejects with a TransportError otherwise. */
  ping(signal?: AbortSignal): Promise<void>;
  /** Create topics/queues/subscriptions/DLQ wiring idempotently; reports what it created or found. */
  provision(): Promise<ProvisionStep[]>;
  /** Remove what provision created. */
  teardown(): Promise<ProvisionStep[]>;
  /** Close subscribers and clients. Idempotent. */
  close(): Promise<void>;
  /**
   * Only for a transport that lives in the outbox's own SQLite database (the local queue): publishes up to `limit`
   * due outbox rows and deletes them in one transaction, in which `inTx` also runs. Returns the rows published.
   */
  publishOutbox?(limit: number, inTx: (published: number) => void): number;
  /**
   * Only for a transport whose queue lives in the outbox's own SQLite database (the local queue): the outbox hands its
   * messages to `append` on the writer's open transaction instead of writing outbox rows, so a message is queued
   * exactly when the writer's own writes commit, with no copy from outbox to queue and no second delete. The writer
   * calls `wake` after its commit (through `Outbox.notify`) to tell this process's subscribers.
   */
  readonly outboxSink?: { append(messages: OutgoingMessage[]): void; wake(): void };
}

/**
 * A message's size as brokers count it against their limits: the body's UTF-8 bytes plus each attribute's name,
 * value and type.
 */
export function messageBytes(message: OutgoingMessage): number {
  let bytes = Buffer.byteLength(message.body);
  for (const [key, value] of Object.entries(message.attributes ?? {})) {
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value) + "String".length;
  }
  return bytes;
}

/** The logging a transport needs (pino's Logger fits). */
export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: TransportLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** A broker failure turned into one named error at the edge; `cause` keeps the SDK error. */
export class TransportError extends Error {
  override name = "TransportError";
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; messageIds?: string[]; deferred?: boolean },
  ) {
    super(message, { cause: options?.cause });
    this.messageIds = options?.messageIds ?? [];
    this.deferred = options?.deferred ?? false;
  }
  readonly messageIds: string[];
  /** Not attempted: the transport held the messages back (backpressure). Retry at once; it is not a failed attempt. */
  readonly deferred: boolean;
}
