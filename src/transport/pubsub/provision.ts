// Provision and teardown of the Pub/Sub topics and subscriptions with their dead-letter policies (idempotent).
// On real Pub/Sub, dead-lettering also needs the project's Pub/Sub service agent to hold publisher on the
// dead-letter topic and subscriber on the consumer subscriptions; provision does not grant IAM roles.
import type { CreateSubscriptionOptions, PubSub } from "@google-cloud/pubsub";
import type { PubsubConfig } from "../../config/types.ts";
import { SUBSCRIPTIONS, TOPIC_OF_SUBSCRIPTION, TOPICS, TransportError } from "../types.ts";
import type { ProvisionStep, SubscriptionName, TransportLogger } from "../types.ts";
import { ADMIN_TIMEOUT_MS } from "./calls.ts";
import { ALREADY_EXISTS, errorText, grpcCode, NOT_FOUND, wrap } from "./errors.ts";

const gaxOpts = { timeout: ADMIN_TIMEOUT_MS };

/** One ListTopics call: whether the broker answers at all. */
export function listTopics(client: PubSub): Promise<unknown> {
  return client.getTopics({ pageSize: 1, autoPaginate: false, gaxOpts: { timeout: 10_000 } });
}

export class Provisioner {
  constructor(
    private readonly client: PubSub,
    private readonly config: PubsubConfig,
    private readonly log: TransportLogger,
  ) {}

  private topicPath(name: string): string {
    return `projects/${this.config.projectId}/topics/${name}`;
  }

  private async ensureTopic(name: string): Promise<ProvisionStep> {
    const resource = `pubsub topic ${name}`;
    try {
      await this.client.createTopic(name, gaxOpts);
      return { resource, action: "created" };
    } catch (error) {
      if (grpcCode(error) === ALREADY_EXISTS) return { resource, action: "exists" };
      throw error;
    }
  }

  private wantedSubscription(subscription: SubscriptionName): CreateSubscriptionOptions {
    const wanted: CreateSubscriptionOptions = {
      ackDeadlineSeconds: this.config.ackDeadlineSeconds,
      enableMessageOrdering: this.config.ordering,
      gaxOpts,
    };
    // The dlq role's own subscription is the last stop: it has no dead-letter policy of its own.
    if (subscription !== "dlq") {
      const deadLetterTopic = this.topicPath(this.config.topics.deadletters);
      wanted.deadLetterPolicy = { deadLetterTopic, maxDeliveryAttempts: this.config.maxDeliveryAttempts };
    }
    return wanted;
  }

  /** Creates the subscription, or brings an existing one's ack deadline and dead-letter policy in line. */
  private async ensureSubscription(subscription: SubscriptionName): Promise<ProvisionStep> {
    const name = this.config.subscriptions[subscription];
    const resource = `pubsub subscription ${name}`;
    const wanted = this.wantedSubscription(subscription);
    try {
      await this.client.topic(this.config.topics[TOPIC_OF_SUBSCRIPTION[subscription]]).createSubscription(name, wanted);
      return { resource, action: "created" };
    } catch (error) {
      if (grpcCode(error) !== ALREADY_EXISTS) throw error;
    }
    const handle = this.client.subscription(name);
    const [current] = await handle.getMetadata({ timeout: ADMIN_TIMEOUT_MS });
    if (Boolean(current.enableMessageOrdering) !== this.config.ordering) {
      this.log.warn(
        { subscription: name, ordering: this.config.ordering },
        "message ordering of an existing subscription cannot change: delete it (ecom teardown) and provision again",
      );
    }
    const policy = current.deadLetterPolicy ?? undefined;
    const samePolicy =
      (policy?.deadLetterTopic ?? "") === (wanted.deadLetterPolicy?.deadLetterTopic ?? "") &&
      (policy?.deadLetterTopic ? Number(policy.maxDeliveryAttempts) : 0) ===
        (wanted.deadLetterPolicy?.maxDeliveryAttempts ?? 0);
    if (samePolicy && current.ackDeadlineSeconds === wanted.ackDeadlineSeconds) return { resource, action: "exists" };
    const deadLetterPolicy = wanted.deadLetterPolicy ?? null;
    const metadata = { ackDeadlineSeconds: wanted.ackDeadlineSeconds, deadLetterPolicy };
    await handle.setMetadata(metadata, { timeout: ADMIN_TIMEOUT_MS });
    return { resource, action: "updated" };
  }

  async provision(): Promise<ProvisionStep[]> {
    try {
      await listTopics(this.client);
    } catch (error) {
      const { emulatorHost, projectId } = this.config;
      const setting = emulatorHost ? " (--pubsub-endpoint or PUBSUB_EMULATOR_HOST)" : "";
      const where = emulatorHost ?? `Pub/Sub for project ${projectId}`;
      throw new TransportError(`provision Pub/Sub: cannot reach ${where}${setting}: ${errorText(error)}`, true, {
        cause: error,
      });
    }
    try {
      const steps: ProvisionStep[] = [];
      for (const topic of TOPICS) steps.push(await this.ensureTopic(this.config.topics[topic]));
      for (const subscription of SUBSCRIPTIONS) steps.push(await this.ensureSubscription(subscription));
      return steps;
    } catch (error) {
      throw wrap(error, "provision Pub/Sub");
    }
  }

  private async remove(resource: string, del: () => Promise<unknown>): Promise<ProvisionStep> {
    try {
      await del();
      return { resource, action: "deleted" };
    } catch (error) {
      if (grpcCode(error) === NOT_FOUND) return { resource, action: "absent" };
      throw error;
    }
  }

  async teardown(): Promise<ProvisionStep[]> {
    try {
      const steps: ProvisionStep[] = [];
      for (const s of SUBSCRIPTIONS) {
        const name = this.config.subscriptions[s];
        const del = () => this.client.subscription(name).delete(gaxOpts);
        steps.push(await this.remove(`pubsub subscription ${name}`, del));
      }
      for (const t of TOPICS) {
        const name = this.config.topics[t];
        steps.push(await this.remove(`pubsub topic ${name}`, () => this.client.topic(name).delete(gaxOpts)));
      }
      return steps;
    } catch (error) {
      throw wrap(error, "teardown Pub/Sub");
    }
  }
}
