// SNS and SQS errors as TransportErrors, and the ones that mean a topic or queue is missing.
import { awsErrorName, awsErrorText, isRetryableAwsError } from "../../aws/index.ts";
import { TransportError } from "../types.ts";

export function wrap(error: unknown, what: string, messageIds?: string[]): TransportError {
  if (error instanceof TransportError) return error;
  const retryable = isRetryableAwsError(error);
  return new TransportError(`${what}: ${awsErrorText(error)}`, retryable, { cause: error, messageIds });
}

export function isQueueMissing(error: unknown): boolean {
  const name = awsErrorName(error);
  return name === "QueueDoesNotExist" || name === "AWS.SimpleQueueService.NonExistentQueue";
}

export function isNotFound(error: unknown): boolean {
  const name = awsErrorName(error);
  return name === "NotFound" || name === "NotFoundException" || isQueueMissing(error);
}

export function missing(kind: string, name: string): TransportError {
  return new TransportError(`${kind} "${name}" does not exist; run \`ecom provision\` to create it`, false);
}
