// `bun run bench --transport=sns-sqs|pubsub`: the pipeline over a real broker next to the broker's own ceiling.
import type { Config } from "../src/config/types.ts";
import { createPubsubTransport } from "../src/transport/pubsub/index.ts";
import { createSnsSqsTransport } from "../src/transport/sns-sqs/index.ts";
import { measurePubsubCeiling, measureSnsSqsCeiling } from "./broker-ceiling.ts";
import { findServerPid, waitForQuietServer } from "./cpu.ts";
import { benchConfig, halfRate, paced, runPipeline, warmUp, type PipelineResult } from "./pipeline.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

/** How far publishers may run ahead of their slowest queue on moto, in the pipeline and the ceiling alike. */
export const MOTO_BACKLOG = 25;

/** Runs named so far in this process (two in one millisecond still get distinct names). */
let runs = 0;
/** Fresh resource names per run, so no backlog of an earlier run is measured. */
function brokerFlags(transport: "sns-sqs" | "pubsub", flags: Record<string, unknown>): Record<string, unknown> {
  const id = `bench${Date.now().toString(36)}${runs++}`;
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
    // The pacing the bare client gets below (moto's cost per call grows with queue depth); override to compare.
    "sqs-max-backlog": String(MOTO_BACKLOG),
    ...flags,
    transport,
    "sns-orders-topic": `${id}_orders`, "sns-payments-topic": `${id}_payments`, "sns-dlq-topic": `${id}_dlq`, "sns-alerts-topic": `${id}_alerts`,
    "sqs-order-queue": `${id}_order_q`, "sqs-analytics-queue": `${id}_analytics_q`, "sqs-payment-queue": `${id}_payment_q`, "sqs-dlq-queue": `${id}_dlq_q`,
  };
}

export interface Ceiling {
  publishPerSec: number;
  consumePerSec: number;
  endToEndPerSec: number;
  /** How the bare client ran (settings, pacing). */
  setting: string;
  /** The bare client's own CPU per message published, in us (Pub/Sub). */
  clientCpuUs?: number;
}

export interface BrokerBench {
  pipeline: PipelineResult;
  /** Warm-up runs before the measured one. */
  warmups: number;
  /** Best bare-client run through one topic and one queue/subscription, and the other settings tried. */
  ceiling: Ceiling;
  tried: Ceiling[];
  /** The bare client on the pipeline's shape: half the messages to a topic with two queues/subscriptions, half to one with one. */
  fanout: Ceiling;
  /** The pipeline again, paced at half the measured run's rate (latency without a backlog). */
  halfLoad: PipelineResult;
}

export async function benchBroker(transport: "sns-sqs" | "pubsub", flags: Record<string, unknown>, n: number): Promise<BrokerBench> {
  const open = (config: Readonly<Config>) => (transport === "pubsub" ? createPubsubTransport(config.pubsub, {}) : createSnsSqsTransport(config.aws, {}));
  // The broker's server on this machine, when found: its CPU is counted beside ecom's.
  const serverPid = findServerPid(transport === "pubsub" ? "cloud-pubsub-emulator" : "moto_server");
  /** One pipeline run of `count` orders and payments on resources of its own, removed afterwards. */
  const pipelineOn = async (count: number, runFlags = flags) => {
    const all = brokerFlags(transport, runFlags);
    const provision = async (config: Readonly<Config>) => {
      const t = open(config);
      await t.provision();
      await t.close();
    };
    const result = await runPipeline(all, count, provision, serverPid);
    const t = open(benchConfig(all, count, "/tmp"));
    await t.teardown().catch(() => {});
    await t.close();
    return result;
  };
  // Warm-up runs first, as the other benches do, until the rate settles (see warmUp): the first runs in a process (and
  // on a fresh server) measure the JITs (ecom's and the server's) and the connections warming up. On moto, whose few
  // hundred messages/s make full-size runs slow and where ecom's CPU is not what limits, they are small.
  const warmups = await warmUp(() => pipelineOn(transport === "pubsub" ? n : Math.min(100, n)));
  const pipeline = await pipelineOn(n);
  const halfLoad = await pipelineOn(n, paced(flags, halfRate(pipeline)));
  // The ceilings move as many messages as the pipeline produced (orders + payments).
  const config = benchConfig(brokerFlags(transport, flags), n, "/tmp");
  await waitForQuietServer(serverPid);
  if (transport === "pubsub") {
    const { best, tried, fanout } = await measurePubsubCeiling(config.pubsub, 2 * n);
    return { pipeline, warmups, ceiling: best, tried, fanout, halfLoad };
  }
  const runs: { maxBacklog: number; aws: typeof config.aws; rates: Ceiling }[] = [];
  for (const [pollers, maxBacklog] of [[config.aws.pollers, 2 * MOTO_BACKLOG], [config.aws.pollers, MOTO_BACKLOG], [1, MOTO_BACKLOG]] as const) {
    const aws = { ...config.aws, pollers };
    const setting = `${pollers} long poll${pollers > 1 ? "s" : ""} per queue, publisher <= ${maxBacklog} messages ahead`;
    runs.push({ maxBacklog, aws, rates: { ...(await measureSnsSqsCeiling(aws, 2 * n, { maxBacklog })), setting } });
  }
  const best = runs.reduce((a, b) => (b.rates.endToEndPerSec > a.rates.endToEndPerSec ? b : a));
  const fanout = { ...(await measureSnsSqsCeiling(best.aws, 2 * n, { maxBacklog: best.maxBacklog, fanout: [2, 1] })), setting: best.rates.setting };
  return { pipeline, warmups, ceiling: best.rates, tried: runs.map((r) => r.rates), fanout, halfLoad };
}
