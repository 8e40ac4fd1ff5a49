// DynamoDB SDK errors at the store's edge: the shared AWS classification plus DynamoDB's own throttling names.
import { awsErrorName, isRetryableAwsError, type AwsLikeError } from "../../aws/errors.ts";
import { backoffMs as sharedBackoff, withRetry as sharedRetry } from "../../util/retry.ts";
import { StoreError } from "../types.ts";

/** DynamoDB's "try again later" beyond the names every AWS service uses: a table, index or account over its rate. */
const DYNAMODB_RETRYABLE = new Set(["ProvisionedThroughputExceededException", "RequestLimitExceeded", "TransactionConflictException", "LimitExceededException"]);

/** Whether an SDK error is transient: throttling, timeouts, 5xx answers, connections refused or dropped. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StoreError) return error.retryable;
  return DYNAMODB_RETRYABLE.has(awsErrorName(error)) || isRetryableAwsError(error);
}

/** The condition of a conditional write did not hold: a normal answer, not a failure. */
export const isConditionFailed = (error: unknown) => awsErrorName(error) === "ConditionalCheckFailedException";
export const isMissingTable = (error: unknown) => awsErrorName(error) === "ResourceNotFoundException";

/** `Name: message`, without saying the name twice when the message starts with it. */
export function explain(error: unknown): string {
  const e = (error ?? {}) as AwsLikeError;
  const text = e.message || String(error);
  return e.name && !text.startsWith(e.name) ? `${e.name}: ${text}` : text;
}

/** Wraps an SDK error: the operation, what went wrong, whether retrying may help, and the cause. */
export function toStoreError(what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError(`dynamodb: ${what} failed: ${explain(error)}`, isRetryable(error), { cause: error });
}

/** Exponential from 50 ms, capped at 2 s, equal jitter (half fixed, half random). */
const BACKOFF = { baseMs: 50, maxMs: 2000, jitter: 0.5 };
export const backoffMs = (failures: number) => sharedBackoff(failures, BACKOFF);

/**
 * Runs `fn`, retrying transient failures with back-off while `budgetMs` lasts (a call takes about one request
 * timeout at most), then rejects with a StoreError that says whether the caller may retry later.
 */
export function withRetry<T>(what: string, budgetMs: number, fn: () => Promise<T>): Promise<T> {
  return sharedRetry(fn, {
    attempts: Number.POSITIVE_INFINITY,
    budgetMs,
    backoff: BACKOFF,
    retryable: (error) => !(error instanceof StoreError) && isRetryable(error),
    wrap: (error) => toStoreError(what, error),
  });
}
