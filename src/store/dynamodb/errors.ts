// DynamoDB SDK errors at the store's edge: which are worth retrying, one-line messages, back-off with jitter.
import { StoreError } from "../types.ts";

/**
 * Error names DynamoDB (or the SDK) gives to "try again later": throttling of a table, an index or the account,
 * a transaction that met a concurrent write, the service's own faults, and requests that timed out.
 */
const RETRYABLE_NAMES = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "LimitExceededException",
  "TransactionConflictException",
  "InternalServerError",
  "InternalFailure",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
]);
const RETRYABLE_SOCKET_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ConnectionRefused", "ConnectionClosed"]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** Whether an SDK error is transient: throttling, timeouts, 5xx answers, connections refused or dropped. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StoreError) return error.retryable;
  const e = (error ?? {}) as SdkError;
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500;
  if (e.code && RETRYABLE_SOCKET_CODES.has(e.code)) return true;
  // Bun's fetch and the SDK's node handler name dropped or refused connections in the message only.
  return /ECONNREFUSED|ECONNRESET|socket hang up|Unable to connect|connection.*(closed|refused)|timed? ?out/i.test(e.message ?? "");
}

/** The condition of a conditional write did not hold: a normal answer, not a failure. */
export const isConditionFailed = (error: unknown) => (error as SdkError | null)?.name === "ConditionalCheckFailedException";
export const isMissingTable = (error: unknown) => (error as SdkError | null)?.name === "ResourceNotFoundException";

export function explain(error: unknown): string {
  const e = (error ?? {}) as SdkError;
  const text = e.message || String(error);
  return e.name && !text.startsWith(e.name) ? `${e.name}: ${text}` : text;
}

/** Wraps an SDK error: the operation, what went wrong, whether retrying may help, and the cause. */
export function toStoreError(what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError(`dynamodb: ${what} failed: ${explain(error)}`, isRetryable(error), { cause: error });
}

const BACKOFF_BASE_MS = 50;
const BACKOFF_MAX_MS = 2000;

/** Full jitter: a random wait in [base/2, base * 1.5) of an exponential base that doubles per attempt, capped. */
export function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return base / 2 + Math.random() * base;
}

/**
 * Runs `fn`, retrying transient failures with exponential back-off and jitter while `budgetMs` lasts (a call takes
 * about one request timeout at most), then rejects with a StoreError that says whether the caller may retry later.
 */
export async function withRetry<T>(what: string, budgetMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const delay = backoffMs(attempt);
      if (!isRetryable(error) || error instanceof StoreError || Date.now() + delay >= deadline) throw toStoreError(what, error);
      await Bun.sleep(delay);
    }
  }
}
