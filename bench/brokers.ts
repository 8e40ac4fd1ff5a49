// `bun run bench --transport=sns-sqs|pubsub`: the pipeline over a real broker next to the broker's own ceiling.
import { createPubsubTransport } from "../src/transport/pubsub.ts";
import { createSnsSqsTransport } from "../src/transport/sns-sqs.ts";
import { measurePubsubCeiling, measureSnsSqsCeiling } from "./broker-ceiling.ts";
import { benchConfig, runPipeline, type PipelineResult } from "./pipeline.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

/** Fresh resource names per run, so no backlog of an earlier run is measured. */
function brokerFlags(transport: "sns-sqs" | "pubsub", flags: Record<string, unknown>): Record<string, unknown> {
  const id = `bench${Date.now().toString(36)}`;
  if (transport === "pubsub") {
    return {
      "pubsub-endpoint": process.env.PUBSUB_EMULATOR_HOST ?? "127.0.0.1:8085",
      ...flags,
      transport,
      "pubsub-orders-topic": `${id}-orders`, "pubsub-payments-topic": `${id}-payments`, "pubsub-dlq-topic": `${id}-dlq`, "pubsub-alerts-topic": `${id}-alerts`,
      "pubsub-order-sub": `${id}-order-sub`, "pubsub-analytics-sub": `${id}-analytics-sub`, "pubsub-payment-sub": `${id}-payment-sub`, "pubsub-dlq-sub": `${id}-dlq-sub`,
    };
  }
  return {
    "aws-endpoint": "http://127.0.0.1:5000",
    "sqs-wait-time": "1",
    ...flags,
    transport,
    "sns-orders-topic": `${id}_orders`, "sns-payments-topic": `${id}_payments`, "sns-dlq-topic": `${id}_dlq`, "sns-alerts-topic": `${id}_alerts`,
    "sqs-order-queue": `${id}_order_q`, "sqs-analytics-queue": `${id}_analytics_q`, "sqs-payment-queue": `${id}_payment_q`, "sqs-dlq-queue": `${id}_dlq_q`,
  };
}

export interface BrokerBench {
  pipeline: PipelineResult;
  ceiling: { publishPerSec: number; consumePerSec: number; endToEndPerSec: number };
}

export async function benchBroker(transport: "sns-sqs" | "pubsub", flags: Record<string, unknown>, n: number): Promise<BrokerBench> {
  const all = brokerFlags(transport, flags);
  const provision = async () => {
    const config = benchConfig(all, n, "/tmp");
    const t = transport === "pubsub" ? createPubsubTransport(config.pubsub, {}) : createSnsSqsTransport(config.aws, {});
    await t.provision();
    await t.close();
  };
  const pipeline = await runPipeline(all, n, provision);
  // The ceiling moves as many messages as the pipeline produced (orders + payments), through one queue.
  const config = benchConfig(all, n, "/tmp");
  const ceiling = transport === "pubsub" ? await measurePubsubCeiling(config.pubsub, 2 * n) : await measureSnsSqsCeiling(config.aws, 2 * n, { maxBacklog: 50 });
  const t = transport === "pubsub" ? createPubsubTransport(config.pubsub, {}) : createSnsSqsTransport(config.aws, {});
  await t.teardown().catch(() => {});
  await t.close();
  return { pipeline, ceiling };
}
