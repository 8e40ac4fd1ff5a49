// Consuming SQS queues: long-polling pollers, batches handed to the handler, visibility kept alive, then settled.
import { ReceiveMessageCommand, type Message as SqsMessage } from "@aws-sdk/client-sqs";
import { pause as sleep } from "../../util/pause.ts";
import { backoffMs } from "../../util/retry.ts";
import { Signal } from "../../util/signal.ts";
import { callHandler } from "../handler.ts";
import type { BatchHandler, Delivery, Outcome, SubscribeOptions, Subscriber, SubscriptionName } from "../types.ts";
import { BACKOFF, dlqName, REDRIVEN, type Clients } from "./clients.ts";
import { deliveryAttributes } from "./envelope.ts";
import { wrap } from "./errors.ts";
import { changeVisibility, deleteMessages, retrySeconds, type Held } from "./settle.ts";

const SQS_RECEIVE_MAX = 10;
/** How long a partial handler batch waits for more messages before it is handed over. */
const LINGER_MS = 50;
/**
 * How long close() lets running long polls answer before aborting them: a poll that finds messages answers at once;
 * an idle one would hold shutdown for its whole wait time (20 s by default, past the 8 s shutdown grace).
 */
const CLOSE_POLL_WAIT_MS = 1_000;

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

function sourcesOf(c: Clients, subscription: SubscriptionName): QueueSource[] {
  const main: QueueSource = { queue: c.config.queues[subscription], pollers: c.config.pollers };
  if (subscription !== "dlq") return [main];
  // Redrive DLQs carry little traffic: one long poll each is plenty.
  return [main, ...REDRIVEN.map((s) => ({ queue: dlqName(c.config.queues[s]), deadLetterSource: s, pollers: 1 }))];
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

/**
 * Consumes one logical subscription (for dlq, also the redrive DLQs). `deleted` hears of acks (the backlog gate);
 * `onClose` runs once the subscriber has settled everything it held.
 */
export function subscribeQueues(
  c: Clients,
  subscription: SubscriptionName,
  handler: BatchHandler,
  options: SubscribeOptions,
  hooks: { deleted: (url: string, count: number) => void; onClose: (s: Subscriber) => void },
): Subscriber {
  const { config, log } = c;
  const maxBatch = Math.max(1, options.maxBatch);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  // Messages held at once (buffered + in handlers): enough to fill every handler slot plus one batch ahead.
  const capacity = Math.max(SQS_RECEIVE_MAX, maxBatch * (concurrency + 1));
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
        const want = Math.min(SQS_RECEIVE_MAX, free);
        reserved += want;
        return want;
      }
      await space.wait(stop.signal, 1000);
    }
  }

  /** Returns how many messages the poll brought. */
  async function receive(source: QueueSource, want: number): Promise<number> {
    const url = await c.queueUrl(source.queue);
    const answer = await c.sqs.send(
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
        const { message: text, retryable } = wrapped;
        const fields = { subscription, queue: source.queue, error: text, retryable, failures };
        log.warn(fields, "sqs receive failed; backing off");
        await sleep(backoffMs(failures, BACKOFF), stop.signal);
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

  async function settle(batch: Held[], outcomes: Outcome[]): Promise<void> {
    for (const h of batch) h.settling = true;
    // A lease extension racing a retry could push the retry out by a whole visibility timeout.
    await heartbeat;
    const acked = batch.filter((_, i) => outcomes[i]!.kind === "ack");
    const delays = new Map(
      batch.flatMap((h, i) => (outcomes[i]!.kind === "ack" ? [] : [[h, retrySeconds(outcomes[i]!)] as const])),
    );
    await Promise.all([
      deleteMessages(c, acked, hooks.deleted),
      changeVisibility(c, [...delays.keys()], (h) => delays.get(h) ?? 0),
    ]);
  }

  async function run(batch: Held[]): Promise<void> {
    inflight++;
    try {
      await settle(batch, await callHandler(handler, batch.map((h) => h.delivery), subscription, log));
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
    heartbeat = changeVisibility(c, live, () => visibility);
  }, (visibility * 1000) / 2);

  const pollers = sourcesOf(c, subscription).flatMap((source) => {
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
      await changeVisibility(c, unhandled, () => 0);
      for (const h of unhandled) held.delete(h);
      while (inflight > 0) await idle.wait();
      clearInterval(heartbeatTimer);
      hooks.onClose(subscriber);
    })();
    return closing;
  }

  const subscriber: Subscriber = { subscription, close };
  return subscriber;
}
