// Publishing to Pub/Sub: one batching topic handle per logical topic, every call bounded, failures listed per message.
import type { PubSub, Topic } from "@google-cloud/pubsub";
import type { PubsubConfig } from "../../config/types.ts";
import type { OutgoingMessage, PublishResult, TopicName } from "../types.ts";
import { boundedCall, PUBLISH_TIMEOUT_MS } from "./calls.ts";
import { abortable, wrap } from "./errors.ts";

const PUBLISH_BATCH_MESSAGES = 1000;
const PUBLISH_BATCH_MS = 10;
/** Our own bound on a publish, in case the client still does not settle: the relay must get its answer. */
const PUBLISH_GUARD_MS = PUBLISH_TIMEOUT_MS + 5_000;

export class Publisher {
  private readonly topics = new Map<TopicName, Topic>();

  constructor(
    private readonly client: PubSub,
    private readonly config: PubsubConfig,
  ) {}

  private topicOf(topic: TopicName): Topic {
    let handle = this.topics.get(topic);
    if (!handle) {
      handle = this.client.topic(this.config.topics[topic], {
        batching: { maxMessages: PUBLISH_BATCH_MESSAGES, maxMilliseconds: PUBLISH_BATCH_MS },
        messageOrdering: this.config.ordering,
        gaxOpts: boundedCall(PUBLISH_TIMEOUT_MS),
      });
      this.topics.set(topic, handle);
    }
    return handle;
  }

  private async publishOne(message: OutgoingMessage): Promise<void> {
    const topic = this.topicOf(message.topic);
    const orderingKey = this.config.ordering && message.orderingKey ? message.orderingKey : undefined;
    try {
      await topic.publishMessage({ data: Buffer.from(message.body), attributes: message.attributes, orderingKey });
    } catch (error) {
      // A failed ordered publish pauses its key until resumed; the relay republishes what we report failed.
      if (orderingKey) topic.resumePublishing(orderingKey);
      throw error;
    }
  }

  async publish(messages: OutgoingMessage[], signal?: AbortSignal): Promise<PublishResult> {
    const failed: PublishResult["failed"] = [];
    const settled = new Set<string>();
    const all = Promise.all(
      messages.map((message) =>
        this.publishOne(message).then(
          () => void settled.add(message.id),
          (error) => {
            settled.add(message.id);
            const what = `Pub/Sub publish to ${this.config.topics[message.topic]}`;
            failed.push({ id: message.id, error: wrap(error, what, [message.id]) });
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

  /** Sends what the topic handles still batch (on close). */
  async flush(): Promise<void> {
    await Promise.all([...this.topics.values()].map((t) => t.flush().catch(() => undefined)));
  }
}
