// Amazon SNS + SQS transport: topics fan out to SQS queues; consumers long-poll, ack by delete, retry by visibility.
// Standard (non-FIFO) topics and queues: orderingKey is ignored.
import { ListTopicsCommand } from "@aws-sdk/client-sns";
import type { AwsConfig } from "../../config/types.ts";
import { silentLogger, TransportError, type Subscriber, type Transport, type TransportLogger } from "../types.ts";
import { Backlog } from "./backlog.ts";
import { Clients } from "./clients.ts";
import { wrap } from "./errors.ts";
import { provision, teardown } from "./provision.ts";
import { Publisher, SNS_BATCH_BYTES } from "./publish.ts";
import { subscribeQueues } from "./consume.ts";

export interface SnsSqsOptions {
  /** Attempts per SDK call and per failed PublishBatch entry (default 3); redrive uses config.maxReceiveCount. */
  maxAttempts?: number;
  logger?: TransportLogger;
}

export function createSnsSqsTransport(config: AwsConfig, opts: SnsSqsOptions = {}): Transport {
  const c = new Clients(config, opts.logger ?? silentLogger, Math.max(1, opts.maxAttempts ?? 3));
  const backlog = new Backlog(c);
  const publisher = new Publisher(c, backlog);
  const subscribers = new Set<Subscriber>();
  let closed = false;
  let closing: Promise<void> | undefined;

  const hooks = {
    deleted: (url: string, count: number) => backlog.deleted(url, count),
    onClose: (s: Subscriber) => void subscribers.delete(s),
  };

  return {
    kind: "sns-sqs",
    maxMessageBytes: SNS_BATCH_BYTES,
    async publish(messages, signal) {
      const messageIds = messages.map((m) => m.id);
      if (closed) throw new TransportError("sns-sqs transport is closed", false, { messageIds });
      return publisher.publish(messages, signal);
    },
    subscribe(subscription, handler, options) {
      if (closed) throw new TransportError("sns-sqs transport is closed", false);
      const subscriber = subscribeQueues(c, subscription, handler, options, hooks);
      subscribers.add(subscriber);
      return subscriber;
    },
    async ping(signal) {
      try {
        await c.sns.send(new ListTopicsCommand({}), { abortSignal: signal });
      } catch (error) {
        throw wrap(error, `SNS ListTopics (${config.snsEndpoint ?? `region ${config.region}`})`);
      }
    },
    provision: () => provision(c),
    teardown: () => teardown(c),
    close() {
      closing ??= (async () => {
        closed = true;
        await Promise.all([...subscribers].map((s) => s.close()));
        c.destroy();
      })();
      return closing;
    },
  };
}
