// Google Cloud Pub/Sub transport: batched publishing, streaming pull with flow control, dead-letter policies.
import type { PubsubConfig } from "../../config/types.ts";
import { silentLogger, TransportError, type Subscriber, type Transport, type TransportLogger } from "../types.ts";
import { createClient } from "./calls.ts";
import { subscribeStream } from "./consume.ts";
import { abortable, wrap } from "./errors.ts";
import { listTopics, Provisioner } from "./provision.ts";
import { Publisher } from "./publish.ts";

export interface PubsubOptions {
  /** Unused by this transport beyond the client's own retry settings; kept for a uniform factory signature. */
  maxAttempts?: number;
  logger?: TransportLogger;
}

/** A message's data and attributes may weigh 10 MB at most. */
const MAX_MESSAGE_BYTES = 10_000_000;

export function createPubsubTransport(config: PubsubConfig, opts: PubsubOptions = {}): Transport {
  const log = opts.logger ?? silentLogger;
  const client = createClient(config);
  const publisher = new Publisher(client, config);
  const provisioner = new Provisioner(client, config, log);
  const subscribers = new Set<Subscriber>();
  let closed = false;
  let closing: Promise<void> | undefined;

  return {
    kind: "pubsub",
    maxMessageBytes: MAX_MESSAGE_BYTES,
    async publish(messages, signal) {
      const messageIds = messages.map((m) => m.id);
      if (closed) throw new TransportError("pubsub transport is closed", false, { messageIds });
      return publisher.publish(messages, signal);
    },
    subscribe(subscription, handler, options) {
      if (closed) throw new TransportError("pubsub transport is closed", false);
      const onClose = (s: Subscriber) => void subscribers.delete(s);
      const subscriber = subscribeStream(client, config, log, subscription, handler, options, onClose);
      subscribers.add(subscriber);
      return subscriber;
    },
    async ping(signal) {
      const what = `Pub/Sub ListTopics (${config.emulatorHost ?? `project ${config.projectId}`})`;
      try {
        await abortable(listTopics(client), signal, what);
      } catch (error) {
        throw wrap(error, what);
      }
    },
    provision: () => provisioner.provision(),
    teardown: () => provisioner.teardown(),
    close() {
      closing ??= (async () => {
        closed = true;
        await Promise.all([...subscribers].map((s) => s.close()));
        await publisher.flush();
        await client.close();
      })();
      return closing;
    },
  };
}
