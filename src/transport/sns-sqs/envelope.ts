// Message attributes on the way out (SNS) and in (SQS, or inside the SNS envelope when raw delivery is off).
import type { MessageAttributeValue as SnsAttributeValue } from "@aws-sdk/client-sns";
import type { Message as SqsMessage } from "@aws-sdk/client-sqs";

export function snsAttributes(
  attributes: Record<string, string> | undefined,
): Record<string, SnsAttributeValue> | undefined {
  if (!attributes) return undefined;
  const entries = Object.entries(attributes);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([key, value]) => [key, { DataType: "String", StringValue: value }]));
}

/** Message attributes of an SQS message; for an SNS envelope (raw delivery off) the ones inside it. */
export function deliveryAttributes(message: SqsMessage): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.MessageAttributes ?? {})) {
    if (value.StringValue !== undefined) attributes[key] = value.StringValue;
    else if (value.BinaryValue !== undefined) attributes[key] = Buffer.from(value.BinaryValue).toString("base64");
  }
  if (Object.keys(attributes).length > 0 || !message.Body?.includes('"Notification"')) return attributes;
  try {
    type Envelope = { Type?: string; MessageAttributes?: Record<string, { Value?: string }> };
    const envelope = JSON.parse(message.Body) as Envelope;
    if (envelope.Type !== "Notification") return attributes;
    for (const [key, value] of Object.entries(envelope.MessageAttributes ?? {})) {
      if (typeof value?.Value === "string") attributes[key] = value.Value;
    }
  } catch {
    // Not an envelope after all: the role validates the body.
  }
  return attributes;
}
