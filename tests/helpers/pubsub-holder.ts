// A subscriber in a process of its own, for tests that kill one (kill -9) while it holds messages.
// Usage: bun tests/helpers/pubsub-holder.ts '<PubsubConfig as JSON>' <subscription> hold|ack
// hold: takes messages and never settles them; ack: acks them. Prints "got N" (distinct message ids) per batch.
import type { PubsubConfig } from "../../src/config/types.ts";
import { createPubsubTransport } from "../../src/transport/pubsub/index.ts";
import type { SubscriptionName } from "../../src/transport/types.ts";

const [json, subscription, mode] = process.argv.slice(2) as [string, SubscriptionName, "hold" | "ack"];
const seen = new Set<string>();
createPubsubTransport(JSON.parse(json) as PubsubConfig, {}).subscribe(
  subscription,
  (batch) => {
    for (const delivery of batch) seen.add(delivery.messageId);
    console.log(`got ${seen.size}`);
    return mode === "ack" ? Promise.resolve(batch.map(() => ({ kind: "ack" as const }))) : new Promise(() => {});
  },
  { maxBatch: 100, concurrency: 100 },
);
