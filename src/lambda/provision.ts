// `ecom provision --lambda`: the SQS event source mappings of the ecom-<role> functions, with partial batch responses.
import {
  CreateEventSourceMappingCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
  type EventSourceMappingConfiguration,
} from "@aws-sdk/client-lambda";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import { ConfigError } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import type { ProvisionStep, SubscriptionName } from "../transport/types.ts";

const ROLES: readonly SubscriptionName[] = ["order", "payment", "analytics", "dlq"];
/** Queues with a redrive DLQ (`<queue>_dlq`, the SNS+SQS transport's naming), which the dlq function drains too. */
const REDRIVEN: readonly SubscriptionName[] = ["order", "analytics", "payment"];
const REPORT = "ReportBatchItemFailures" as const;

/** The queues each role's function is mapped to. */
export function queuesOf(config: Readonly<Config>, role: SubscriptionName): string[] {
  const { queues } = config.aws;
  return role === "dlq" ? [queues.dlq, ...REDRIVEN.map((s) => `${queues[s]}_dlq`)] : [queues[role]];
}

const errorText = (error: unknown) => `${(error as Error).name ?? "Error"}: ${(error as Error).message}`;

/**
 * Creates, or brings to the wanted batch settings, one mapping per (function, queue), for the consumer roles of
 * --role (all: the four). Idempotent: a mapping that already has them is reported as `exists`.
 */
export async function provisionEventSources(config: Readonly<Config>): Promise<ProvisionStep[]> {
  if (config.transport !== "sns-sqs") {
    const got = config.transport;
    throw new ConfigError(`provision --lambda maps SQS queues to functions: it needs --transport=sns-sqs; got ${got}`);
  }
  const region = config.aws.region;
  const lambda = new LambdaClient({ region, endpoint: config.lambda.endpoint });
  const sqs = new SQSClient({ region, endpoint: config.aws.sqsEndpoint });
  const wanted = {
    BatchSize: config.lambda.batchSize,
    MaximumBatchingWindowInSeconds: config.lambda.batchWindowSeconds,
    FunctionResponseTypes: [REPORT],
  };
  const settings = `batch ${wanted.BatchSize}, window ${wanted.MaximumBatchingWindowInSeconds} s, ${REPORT}`;
  const steps: ProvisionStep[] = [];
  try {
    for (const role of ROLES.filter((r) => config.roles.includes(r))) {
      const fn = `${config.lambda.functionPrefix}${role}`;
      for (const queue of queuesOf(config, role)) {
        const arn = await queueArn(sqs, queue);
        const resource = `lambda event source ${queue} -> ${fn} (${settings})`;
        let existing: EventSourceMappingConfiguration | undefined;
        try {
          const page = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: fn, EventSourceArn: arn }));
          existing = page.EventSourceMappings?.[0];
          if (!existing) {
            const create = { FunctionName: fn, EventSourceArn: arn, Enabled: true, ...wanted };
            await lambda.send(new CreateEventSourceMappingCommand(create));
            steps.push({ resource, action: "created" });
            continue;
          }
          const same =
            existing.BatchSize === wanted.BatchSize &&
            (existing.MaximumBatchingWindowInSeconds ?? 0) === wanted.MaximumBatchingWindowInSeconds &&
            (existing.FunctionResponseTypes ?? []).includes(REPORT);
          if (same) {
            steps.push({ resource, action: "exists" });
            continue;
          }
          await lambda.send(new UpdateEventSourceMappingCommand({ UUID: existing.UUID, ...wanted }));
          steps.push({ resource, action: "updated" });
        } catch (error) {
          if ((error as Error).name === "ResourceNotFoundException") {
            const what = `lambda function ${fn} not found (${errorText(error)})`;
            const todo = `deploy it first (README, "Serverless on AWS Lambda"), or set --lambda-function-prefix`;
            throw new Error(`${what}: ${todo}`, { cause: error });
          }
          throw new Error(`Lambda event source mapping ${queue} -> ${fn}: ${errorText(error)}`, { cause: error });
        }
      }
    }
  } finally {
    lambda.destroy();
    sqs.destroy();
  }
  return steps;
}

async function queueArn(sqs: SQSClient, queue: string): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
    if (!Attributes?.QueueArn) throw new Error("GetQueueAttributes answered without QueueArn");
    return Attributes.QueueArn;
  } catch (error) {
    const text = `SQS queue ${queue}: ${errorText(error)} (provision creates it with --transport=sns-sqs)`;
    throw new Error(text, { cause: error });
  }
}
