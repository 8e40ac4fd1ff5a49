// How AWS SDK errors are classified and described, shared by every AWS backend (SNS+SQS, DynamoDB, S3, ...).

const RETRYABLE_NAMES = new Set([
  "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
  "TooManyRequestsException", "KMSThrottlingException", "OverLimit", "RequestTimeout", "RequestTimeoutException",
  "TimeoutError", "InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable",
  "AbortError", "PriorRequestNotComplete",
]);
const NETWORK_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED", "EHOSTUNREACH",
  "ENETUNREACH", "ConnectionRefused", "ConnectionClosed", "UND_ERR_SOCKET",
]);

/** The fields of an SDK v3 error (service exceptions and the HTTP handler's own) that classification reads. */
export interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Whether an error name or code (as in a batch entry's `Code`) means throttling or a server-side failure. */
export function isRetryableAwsName(name: string | undefined): boolean {
  return name !== undefined && RETRYABLE_NAMES.has(name);
}

/** Throttling, 5xx, timeouts and connection failures are worth another try; the rest are not. */
export function isRetryableAwsError(error: unknown): boolean {
  const e = (error ?? {}) as AwsLikeError;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code && (NETWORK_CODES.has(e.code) || RETRYABLE_NAMES.has(e.code))) return true;
  return /socket hang up|connection (refused|reset|closed)|network/i.test(e.message ?? "");
}

const OVERLOAD_NAMES = new Set([
  "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
  "TooManyRequestsException", "OverLimit", "RequestTimeout", "RequestTimeoutException", "TimeoutError",
  "ServiceUnavailable", "SlowDown",
]);

/**
 * Whether the server is overloaded rather than unreachable or wrong: it throttled, timed out or answered 503/429.
 * A caller should then send fewer calls at once (a timed-out call may still be running on the server).
 */
export function isOverloadError(error: unknown): boolean {
  const e = (error ?? {}) as AwsLikeError;
  const status = e.$metadata?.httpStatusCode;
  if (status === 503 || status === 429) return true;
  return (e.name !== undefined && OVERLOAD_NAMES.has(e.name)) || (e.code !== undefined && OVERLOAD_NAMES.has(e.code));
}

/** `Name: message`, what a person reads of an SDK error. */
export function awsErrorText(error: unknown): string {
  const e = (error ?? {}) as AwsLikeError;
  return `${e.name ?? "Error"}: ${e.message ?? String(error)}`;
}

/** The error's name (the service's exception type), or "" when it has none. */
export function awsErrorName(error: unknown): string {
  return (error as AwsLikeError | null)?.name ?? "";
}
