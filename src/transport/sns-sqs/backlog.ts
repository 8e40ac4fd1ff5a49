// The backlog gate of --sqs-max-backlog: publishing to a topic waits while one of its queues holds too many messages.
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { Signal } from "../../util/signal.ts";
import { SUBSCRIPTIONS, TOPIC_OF_SUBSCRIPTION, type TopicName } from "../types.ts";
import type { Clients } from "./clients.ts";
import { wrap } from "./errors.ts";

/** How often a held-back publish re-reads queue depths (local deletes count at once). */
const BACKLOG_REFRESH_MS = 250;
const DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] as const;

type Depth = { estimate: number; readAt: number; reading?: Promise<void> };

/**
 * Per queue: its depth when last read, plus what this transport published to its topic since, minus what this
 * transport's own subscribers deleted from it since. Local deletes free room at once; consumers elsewhere show up at
 * the next read (every BACKLOG_REFRESH_MS while a publish is held).
 */
export class Backlog {
  private readonly depths = new Map<string, Depth>();
  /** Wakes held publishes when local subscribers delete messages. */
  private readonly drained = new Signal();
  private readonly queueNamesByUrl = new Map<string, string>();

  constructor(private readonly c: Clients) {}

  private queuesOf(topic: TopicName): string[] {
    return SUBSCRIPTIONS.filter((s) => TOPIC_OF_SUBSCRIPTION[s] === topic).map((s) => this.c.config.queues[s]);
  }

  private depthOf(queue: string): Depth {
    let b = this.depths.get(queue);
    if (!b) this.depths.set(queue, (b = { estimate: 0, readAt: 0 }));
    return b;
  }

  /** A local subscriber deleted `count` messages from the queue at `url`. */
  deleted(url: string, count: number): void {
    const b = this.depths.get(this.queueNamesByUrl.get(url) ?? "");
    if (!b || count === 0) return;
    b.estimate = Math.max(0, b.estimate - count);
    this.drained.notify();
  }

  /** Messages in the queue not yet deleted: waiting plus in flight (moto's cost per call grows with both). */
  private async readDepth(queue: string, signal?: AbortSignal): Promise<void> {
    const b = this.depthOf(queue);
    b.reading ??= (async () => {
      try {
        const url = await this.c.queueUrl(queue);
        this.queueNamesByUrl.set(url, queue);
        const answer = await this.c.sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [...DEPTH_ATTRIBUTES] }),
          { abortSignal: signal },
        );
        const a = answer.Attributes;
        const [waiting, inFlight] = [a?.ApproximateNumberOfMessages, a?.ApproximateNumberOfMessagesNotVisible];
        b.estimate = Number(waiting ?? 0) + Number(inFlight ?? 0);
      } catch (error) {
        // Depth unknown: admit rather than stall the relay on a failing GetQueueAttributes.
        const text = wrap(error, "SQS GetQueueAttributes").message;
        this.c.log.warn({ queue, error: text }, "sns publish: queue depth unknown; not pacing");
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
  async admit(topic: TopicName, count: number, deadline: number, signal?: AbortSignal): Promise<boolean> {
    const limit = this.c.config.maxBacklog ?? 0;
    const queues = this.queuesOf(topic);
    if (limit <= 0 || queues.length === 0) return true;
    const list = queues.map((q) => this.depthOf(q));
    for (;;) {
      const stale = queues.filter((_, i) => list[i]!.readAt === 0);
      if (stale.length) await Promise.all(stale.map((q) => this.readDepth(q, signal)));
      const depth = Math.max(...list.map((b) => b.estimate));
      if (depth === 0 || depth + count <= limit) {
        for (const b of list) b.estimate += count;
        return true;
      }
      if (signal?.aborted || Date.now() >= deadline) return false;
      const due = Math.min(...list.map((b) => b.readAt)) + BACKLOG_REFRESH_MS;
      if (Date.now() >= due) {
        await Promise.all(queues.map((q) => this.readDepth(q, signal)));
        continue;
      }
      // Until a local delete frees room, the next read is due, or the deadline.
      await this.drained.wait(signal, Math.min(due, deadline) - Date.now());
    }
  }
}
