// Provision and teardown of the SNS topics, SQS queues, redrive DLQs, queue policies and subscriptions (idempotent).
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  SetSubscriptionAttributesCommand,
  SubscribeCommand,
  UnsubscribeCommand,
} from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { SUBSCRIPTIONS, TOPIC_OF_SUBSCRIPTION, TOPICS } from "../types.ts";
import type { ProvisionStep, SubscriptionName, TopicName } from "../types.ts";
import { dlqName, REDRIVEN, type Clients } from "./clients.ts";
import { isNotFound, isQueueMissing, wrap } from "./errors.ts";

const DLQ_RETENTION_SECONDS = 1_209_600;

function sameJson(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

type Redrive = { deadLetterTargetArn: string; maxReceiveCount: number };

function sameRedrive(current: string | undefined, wanted: Redrive): boolean {
  if (!current) return false;
  try {
    const parsed = JSON.parse(current) as { deadLetterTargetArn?: string; maxReceiveCount?: number | string };
    const sameTarget = parsed.deadLetterTargetArn === wanted.deadLetterTargetArn;
    return sameTarget && Number(parsed.maxReceiveCount) === wanted.maxReceiveCount;
  } catch {
    return false;
  }
}

function sameAttribute(key: string, current: string | undefined, wanted: string): boolean {
  if (key === "RedrivePolicy") return sameRedrive(current, JSON.parse(wanted));
  if (key === "Policy") return sameJson(current, wanted);
  return current === wanted;
}

function queuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AllowSnsTopic",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queueArn,
        Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
      },
    ],
  });
}

async function ensureTopic(c: Clients, name: string): Promise<{ arn: string; step: ProvisionStep }> {
  const resource = `sns topic ${name}`;
  const existing = await c.topicArn(name).catch(() => undefined);
  if (existing) return { arn: existing, step: { resource, action: "exists" } };
  const answer = await c.sns.send(new CreateTopicCommand({ Name: name }));
  c.rememberTopic(name, answer.TopicArn!);
  return { arn: answer.TopicArn!, step: { resource, action: "created" } };
}

async function queueArnOf(c: Clients, url: string): Promise<string> {
  const answer = await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return answer.Attributes!.QueueArn!;
}

/** Creates the queue with `attributes`, or brings an existing one's attributes in line. */
async function ensureQueue(
  c: Clients, name: string, attributes: Record<string, string>,
): Promise<{ url: string; arn: string; step: ProvisionStep }> {
  const resource = `sqs queue ${name}`;
  let url: string | undefined;
  try {
    url = (await c.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (error) {
    if (!isQueueMissing(error)) throw error;
  }
  if (!url) {
    url = (await c.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
    return { url, arn: await queueArnOf(c, url), step: { resource, action: "created" } };
  }
  const current: Record<string, string | undefined> =
    (await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }))).Attributes ?? {};
  const changed = Object.entries(attributes).filter(([key, value]) => !sameAttribute(key, current[key], value));
  if (changed.length > 0) {
    await c.sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: Object.fromEntries(changed) }));
  }
  const step: ProvisionStep = { resource, action: changed.length > 0 ? "updated" : "exists" };
  return { url, arn: current.QueueArn ?? (await queueArnOf(c, url)), step };
}

/** The queue policy needs the queue's own ARN, so it is set once the queue exists. */
async function ensurePolicy(
  c: Clients, url: string, queueArn: string, topicArn: string, step: ProvisionStep,
): Promise<ProvisionStep> {
  const policy = queuePolicy(queueArn, topicArn);
  const answer = await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["Policy"] }));
  if (sameJson(answer.Attributes?.Policy, policy)) return step;
  await c.sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: policy } }));
  return step.action === "exists" ? { ...step, action: "updated" } : step;
}

async function findSubscription(c: Clients, topic: string, queueArn: string): Promise<string | undefined> {
  let token: string | undefined;
  do {
    const page = await c.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic, NextToken: token }));
    const found = page.Subscriptions?.find((s) => s.Protocol === "sqs" && s.Endpoint === queueArn);
    if (found?.SubscriptionArn) return found.SubscriptionArn;
    token = page.NextToken;
  } while (token);
  return undefined;
}

async function ensureSubscription(
  c: Clients, topicName: string, topic: string, queueName: string, queueArn: string,
): Promise<ProvisionStep> {
  const resource = `sns subscription ${topicName} -> ${queueName}`;
  const raw = String(c.config.rawDelivery);
  const existing = await findSubscription(c, topic, queueArn);
  if (!existing) {
    const attributes = { RawMessageDelivery: raw };
    const subscribe = { TopicArn: topic, Protocol: "sqs", Endpoint: queueArn, Attributes: attributes };
    await c.sns.send(new SubscribeCommand({ ...subscribe, ReturnSubscriptionArn: true }));
    return { resource, action: "created" };
  }
  const answer = await c.sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: existing }));
  const attributes = answer.Attributes ?? {};
  if ((attributes.RawMessageDelivery ?? "false") === raw) return { resource, action: "exists" };
  const change = { SubscriptionArn: existing, AttributeName: "RawMessageDelivery", AttributeValue: raw };
  await c.sns.send(new SetSubscriptionAttributesCommand(change));
  return { resource, action: "updated" };
}

async function provisionSubscription(
  c: Clients, subscription: SubscriptionName, topics: Map<TopicName, string>,
): Promise<ProvisionStep[]> {
  const steps: ProvisionStep[] = [];
  const queueName = c.config.queues[subscription];
  const attributes: Record<string, string> = { VisibilityTimeout: String(c.config.visibilityTimeoutSeconds) };
  if (REDRIVEN.includes(subscription)) {
    const dlq = await ensureQueue(c, dlqName(queueName), { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) });
    steps.push(dlq.step);
    const redrive: Redrive = { deadLetterTargetArn: dlq.arn, maxReceiveCount: c.config.maxReceiveCount };
    attributes.RedrivePolicy = JSON.stringify(redrive);
  }
  const topicName = c.config.topics[TOPIC_OF_SUBSCRIPTION[subscription]];
  const topic = topics.get(TOPIC_OF_SUBSCRIPTION[subscription])!;
  const queue = await ensureQueue(c, queueName, attributes);
  steps.push(await ensurePolicy(c, queue.url, queue.arn, topic, queue.step));
  steps.push(await ensureSubscription(c, topicName, topic, queueName, queue.arn));
  return steps;
}

export async function provision(c: Clients): Promise<ProvisionStep[]> {
  try {
    const steps: ProvisionStep[] = [];
    const topics = new Map<TopicName, string>();
    for (const topic of TOPICS) {
      const { arn, step } = await ensureTopic(c, c.config.topics[topic]);
      topics.set(topic, arn);
      steps.push(step);
    }
    for (const subscription of SUBSCRIPTIONS) steps.push(...(await provisionSubscription(c, subscription, topics)));
    return steps;
  } catch (error) {
    throw wrap(error, "provision SNS+SQS");
  }
}

async function deleteQueue(c: Clients, name: string): Promise<ProvisionStep> {
  const resource = `sqs queue ${name}`;
  c.forgetQueue(name);
  try {
    const url = (await c.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    await c.sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    return { resource, action: "deleted" };
  } catch (error) {
    if (isNotFound(error)) return { resource, action: "absent" };
    throw error;
  }
}

/** Unsubscribes every SQS subscription of the topic, then deletes it. */
async function deleteTopic(c: Clients, name: string): Promise<ProvisionStep[]> {
  const arn = await c.topicArn(name).catch(() => undefined);
  c.forgetTopic(name);
  if (!arn) return [{ resource: `sns topic ${name}`, action: "absent" }];
  const steps: ProvisionStep[] = [];
  let token: string | undefined;
  do {
    const page = await c.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn, NextToken: token }));
    for (const s of page.Subscriptions ?? []) {
      if (s.Protocol !== "sqs" || !s.SubscriptionArn?.startsWith("arn:")) continue;
      await c.sns.send(new UnsubscribeCommand({ SubscriptionArn: s.SubscriptionArn }));
      steps.push({ resource: `sns subscription ${name} -> ${s.Endpoint?.split(":").pop()}`, action: "deleted" });
    }
    token = page.NextToken;
  } while (token);
  await c.sns.send(new DeleteTopicCommand({ TopicArn: arn }));
  steps.push({ resource: `sns topic ${name}`, action: "deleted" });
  return steps;
}

export async function teardown(c: Clients): Promise<ProvisionStep[]> {
  try {
    const steps: ProvisionStep[] = [];
    for (const topic of TOPICS) steps.push(...(await deleteTopic(c, c.config.topics[topic])));
    for (const subscription of SUBSCRIPTIONS) {
      steps.push(await deleteQueue(c, c.config.queues[subscription]));
      if (REDRIVEN.includes(subscription)) steps.push(await deleteQueue(c, dlqName(c.config.queues[subscription])));
    }
    return steps;
  } catch (error) {
    throw wrap(error, "teardown SNS+SQS");
  }
}
