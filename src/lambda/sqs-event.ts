// An SQS event as Lambda's event source mapping sends it → the deliveries the role handlers take.
import type { AwsConfig } from "../config/types.ts";
import type { Delivery, SubscriptionName } from "../transport/types.ts";

export interface SqsRecord {
  messageId: string;
  body: string;
  attributes?: Record<string, string | undefined>;
  messageAttributes?: Record<string, { stringValue?: string; binaryValue?: string; dataType?: string } | undefined>;
  eventSource?: string;
  eventSourceARN?: string;
}

/** The queues whose redrive DLQ the dlq role drains, and so the sources a broker-dead-lettered message can have. */
const REDRIVEN: readonly SubscriptionName[] = ["order", "analytics", "payment"];

/** An event this function does not handle (not SQS, records without ids): the invocation fails with this. */
export class EventError extends Error {
  override name = "EventError";
}

/** The SQS records of an event; null when the event has no `Records` (a scheduled event, say). */
export function sqsRecords(event: unknown): SqsRecord[] | null {
  if (typeof event !== "object" || event === null || !("Records" in event)) return null;
  const records = (event as { Records: unknown }).Records;
  if (!Array.isArray(records)) throw new EventError("Records is not an array");
  return records.map((r, i) => {
    if (typeof r !== "object" || r === null) throw new EventError(`Records[${i}] is not an object`);
    const record = r as Partial<SqsRecord>;
    if (record.eventSource !== undefined && record.eventSource !== "aws:sqs") {
      const source = JSON.stringify(record.eventSource);
      throw new EventError(`Records[${i}].eventSource is ${source}; ecom lambda takes SQS events (aws:sqs)`);
    }
    if (typeof record.messageId !== "string" || record.messageId === "") {
      throw new EventError(`Records[${i}] has no messageId`);
    }
    // A record without a body is kept: the role dead-letters it as malformed, as it would any bad message.
    return { ...record, messageId: record.messageId, body: typeof record.body === "string" ? record.body : "" };
  });
}

/**
 * One delivery per record, as the SNS+SQS transport would have handed it: body as received (an SNS envelope, when
 * the subscription is not raw, is unwrapped by the roles), string message attributes, the receive count as the
 * attempt, and for the dlq role the source of a record that comes from a redrive DLQ (`<queue>_dlq`, the transport's
 * naming).
 */
export function toDeliveries(records: SqsRecord[], role: SubscriptionName, aws: Pick<AwsConfig, "queues">): Delivery[] {
  return records.map((r) => {
    const attributes: Record<string, string> = {};
    for (const [key, value] of Object.entries(r.messageAttributes ?? {})) {
      if (value?.stringValue !== undefined) attributes[key] = value.stringValue;
      else if (value?.binaryValue !== undefined) attributes[key] = value.binaryValue;
    }
    const delivery: Delivery = {
      messageId: r.messageId,
      body: r.body,
      attributes,
      attempt: Math.max(1, Number(r.attributes?.ApproximateReceiveCount ?? 1) || 1),
    };
    if (role === "dlq") {
      const queue = r.eventSourceARN?.split(":").at(-1);
      const source = REDRIVEN.find((s) => queue === `${aws.queues[s]}_dlq`);
      if (source) delivery.deadLetterSource = source;
    }
    return delivery;
  });
}
