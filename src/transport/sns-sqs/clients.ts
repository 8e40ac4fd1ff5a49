// The SNS and SQS clients of one transport, and the topic ARNs and queue URLs they look up (only provision creates).
import { ListTopicsCommand, SNSClient } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import { awsClientConfig } from "../../aws/index.ts";
import type { AwsConfig } from "../../config/types.ts";
import type { SubscriptionName, TransportLogger } from "../types.ts";
import { isQueueMissing, missing, wrap } from "./errors.ts";

/** A request's bound beyond its long-poll wait time. */
const REQUEST_TIMEOUT_MARGIN_MS = 15_000;

/** Queues with a redrive DLQ; the dlq role's own queue has none, so it can keep retrying its records. */
export const REDRIVEN: readonly SubscriptionName[] = ["order", "analytics", "payment"];

/** Back-off of a failed poll or publish: 100-200 ms after the first failure, doubling up to 5 s (equal jitter). */
export const BACKOFF = { baseMs: 200, maxMs: 5_000, jitter: 0.5 };

export const dlqName = (queue: string) => `${queue}_dlq`;

export class Clients {
  readonly sns: SNSClient;
  /**
   * For PublishBatch: one SDK attempt per call. The publisher retries failed entries itself, with back-off and a
   * smaller window of calls after a timeout; SDK retries on top sent a batch up to 9 times per publish (3 x 3), each
   * timed-out send still running on the server (moto: issue 20).
   */
  readonly snsPublish: SNSClient;
  readonly sqs: SQSClient;
  private readonly topicArns = new Map<string, string>();
  private topicListing: Promise<void> | undefined;
  private readonly queueUrls = new Map<string, Promise<string>>();

  constructor(
    readonly config: AwsConfig,
    readonly log: TransportLogger,
    /** Attempts per SDK call and per failed PublishBatch entry. */
    readonly maxAttempts: number,
  ) {
    // The request bound leaves a long poll its full wait time.
    const requestTimeoutMs = config.waitTimeSeconds * 1000 + REQUEST_TIMEOUT_MARGIN_MS;
    const clientConfig = awsClientConfig({ region: config.region, maxAttempts, requestTimeoutMs });
    this.sns = new SNSClient({ ...clientConfig, endpoint: config.snsEndpoint });
    this.snsPublish = new SNSClient({ ...clientConfig, maxAttempts: 1, endpoint: config.snsEndpoint });
    this.sqs = new SQSClient({ ...clientConfig, endpoint: config.sqsEndpoint });
  }

  private async listTopics(signal?: AbortSignal): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.sns.send(new ListTopicsCommand({ NextToken: token }), { abortSignal: signal });
      for (const topic of page.Topics ?? []) {
        const arn = topic.TopicArn;
        if (arn) this.topicArns.set(arn.slice(arn.lastIndexOf(":") + 1), arn);
      }
      token = page.NextToken;
    } while (token);
  }

  /** Topic ARN by name, found with ListTopics (never CreateTopic: only provision creates). */
  async topicArn(name: string, signal?: AbortSignal): Promise<string> {
    const cached = this.topicArns.get(name);
    if (cached) return cached;
    this.topicListing ??= this.listTopics(signal).finally(() => (this.topicListing = undefined));
    try {
      await this.topicListing;
    } catch (error) {
      throw wrap(error, `SNS ListTopics (looking for topic "${name}")`);
    }
    const arn = this.topicArns.get(name);
    if (!arn) throw missing("SNS topic", name);
    return arn;
  }

  rememberTopic(name: string, arn: string): void {
    this.topicArns.set(name, arn);
  }

  forgetTopic(name: string): void {
    this.topicArns.delete(name);
  }

  private async lookupQueueUrl(name: string): Promise<string> {
    try {
      const answer = await this.sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      if (!answer.QueueUrl) throw new Error("GetQueueUrl answered without QueueUrl");
      return answer.QueueUrl;
    } catch (error) {
      if (isQueueMissing(error)) throw missing("SQS queue", name);
      throw wrap(error, `SQS GetQueueUrl "${name}"`);
    }
  }

  /** Queue URL by name, looked up once (failures are not cached, so a later provision is picked up). */
  queueUrl(name: string): Promise<string> {
    let url = this.queueUrls.get(name);
    if (!url) {
      url = this.lookupQueueUrl(name);
      this.queueUrls.set(name, url);
      url.catch(() => this.queueUrls.delete(name));
    }
    return url;
  }

  forgetQueue(name: string): void {
    this.queueUrls.delete(name);
  }

  destroy(): void {
    this.sns.destroy();
    this.snsPublish.destroy();
    this.sqs.destroy();
  }
}
