// Publishing to SNS: PublishBatch requests within SNS's limits, failed entries retried, the backlog gate applied.
import { PublishBatchCommand, type PublishBatchRequestEntry } from "@aws-sdk/client-sns";
import { isOverloadError, isRetryableAwsName } from "../../aws/index.ts";
import { forEachLimit } from "../../util/limit.ts";
import { pause as sleep } from "../../util/pause.ts";
import { backoffMs } from "../../util/retry.ts";
import { CallWindow } from "../../util/window.ts";
import { messageBytes, TransportError, type OutgoingMessage, type PublishResult, type TopicName } from "../types.ts";
import type { Backlog } from "./backlog.ts";
import { BACKOFF, type Clients } from "./clients.ts";
import { snsAttributes } from "./envelope.ts";
import { wrap } from "./errors.ts";

const SNS_BATCH_ENTRIES = 10;
/** PublishBatch caps the whole request payload (all entries together) at 256 KiB, and so one message. */
export const SNS_BATCH_BYTES = 256 * 1024;
/** PublishBatch calls one transport keeps open at most; fewer while the broker times out or throttles. */
const PUBLISH_CONCURRENCY = 16;
/**
 * With --sqs-max-backlog: how long one publish call waits before handing the rest back to the relay as deferred (not
 * attempted: no backoff, no attempt counted).
 */
const BACKLOG_MAX_WAIT_MS = 2_000;

type Failure = { id: string; error: TransportError };

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

export class Publisher {
  /** Shared by every publish() of the transport (the relay and the roles' own dead letters and alerts). */
  private readonly window = new CallWindow(PUBLISH_CONCURRENCY);

  constructor(
    private readonly c: Clients,
    private readonly backlog: Backlog,
  ) {}

  /** One PublishBatch call; sorts the entries into confirmed, worth retrying, and failed for good. */
  private async publishOnce(
    arn: string, batch: OutgoingMessage[], signal?: AbortSignal,
  ): Promise<{ retry: Failure[]; fatal: Failure[] }> {
    const entries: PublishBatchRequestEntry[] = batch.map((message, i) => ({
      Id: `m${i}`,
      Message: message.body,
      MessageAttributes: snsAttributes(message.attributes),
    }));
    await this.window.acquire(signal);
    let overloaded = false;
    try {
      const command = new PublishBatchCommand({ TopicArn: arn, PublishBatchRequestEntries: entries });
      const answer = await this.c.snsPublish.send(command, { abortSignal: signal });
      overloaded = (answer.Failed ?? []).some((entry) => isOverloadError({ name: entry.Code }));
      const retry: Failure[] = [];
      const fatal: Failure[] = [];
      const answered = new Set<string>((answer.Successful ?? []).map((entry) => entry.Id ?? ""));
      for (const entry of answer.Failed ?? []) {
        const message = batch[Number(entry.Id?.slice(1))];
        if (!message) continue;
        answered.add(entry.Id!);
        const retryable = !entry.SenderFault || isRetryableAwsName(entry.Code ?? "");
        const text = `SNS PublishBatch entry failed: ${entry.Code}: ${entry.Message ?? ""}`;
        const error = new TransportError(text, retryable, { messageIds: [message.id] });
        (retryable ? retry : fatal).push({ id: message.id, error });
      }
      // An entry in neither list was not confirmed (moto drops entries that hit unexpected errors this way).
      batch.forEach((message, i) => {
        if (answered.has(`m${i}`)) return;
        const text = "SNS PublishBatch: entry neither succeeded nor failed";
        retry.push({ id: message.id, error: new TransportError(text, true, { messageIds: [message.id] }) });
      });
      return { retry, fatal };
    } catch (cause) {
      overloaded = isOverloadError(cause);
      const error = wrap(cause, `SNS PublishBatch to ${arn}`, batch.map((m) => m.id));
      const failures = batch.map((m) => ({ id: m.id, error }));
      return error.retryable ? { retry: failures, fatal: [] } : { retry: [], fatal: failures };
    } finally {
      this.window.release(overloaded);
      if (overloaded) this.c.log.debug({ window: this.window.limit }, "sns publish: broker overloaded; fewer calls");
    }
  }

  /** Publishes one batch, retrying its retryable failures with backoff; returns what still failed. */
  private async publishBatch(arn: string, batch: OutgoingMessage[], signal?: AbortSignal): Promise<Failure[]> {
    const failed: Failure[] = [];
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      const { retry, fatal } = await this.publishOnce(arn, pending, signal);
      failed.push(...fatal);
      if (retry.length === 0) return failed;
      if (attempt >= this.c.maxAttempts || signal?.aborted) return failed.concat(retry);
      const error = retry[0]!.error.message;
      this.c.log.debug({ count: retry.length, attempt, error }, "sns publish: retrying failed entries");
      await sleep(backoffMs(attempt, BACKOFF), signal);
      const retryIds = new Set(retry.map((f) => f.id));
      pending = pending.filter((m) => retryIds.has(m.id));
    }
  }

  async publish(messages: OutgoingMessage[], signal?: AbortSignal): Promise<PublishResult> {
    const config = this.c.config;
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
        const arn = await this.c.topicArn(config.topics[topic], signal);
        for (const batch of publishBatches(list)) work.push({ topic, arn, batch });
      } catch (error) {
        const cause = wrap(error, `publish to ${topic}`);
        const messageIds = list.map((m) => m.id);
        const wrapped = new TransportError(cause.message, cause.retryable, { cause, messageIds });
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
      const admitted = topic === "deadletters"
        ? true
        : (admission = admission.then((open) => open && this.backlog.admit(topic, batch.length, deadline, signal)));
      if (!(await admitted)) {
        const error = new TransportError(
          `SNS publish to ${config.topics[topic]} held back: ` +
            `a queue of the topic holds more than --sqs-max-backlog=${config.maxBacklog} messages`,
          true,
          { messageIds: batch.map((m) => m.id), deferred: true },
        );
        for (const m of batch) failed.push({ id: m.id, error });
        return;
      }
      failed.push(...(await this.publishBatch(arn, batch, signal)));
    });
    return { failed };
  }
}
