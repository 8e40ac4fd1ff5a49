// Which Cassandra driver errors are transient, how they read, and the store's retry of one request.
import cassandra from "cassandra-driver";
import { withRetry } from "../../util/retry.ts";
import { StoreError } from "../types.ts";

const { errors, types } = cassandra;

/** Attempts per request for retryable failures (timeouts, unavailability, overload). */
const ATTEMPTS = 4;
/** 50-150 ms after the first failure, doubling: base/2 plus up to base of jitter, base 100 ms. */
const BACKOFF = { baseMs: 150, jitter: 2 / 3 };

/** Server answers that mean "try again later", not "this request is wrong". */
const RETRYABLE_CODES = new Set<number>([
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.writeTimeout,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.truncateError,
]);
const RETRYABLE_SOCKET_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH",
]);

/** Errors that retrying cannot fix: bad arguments (e.g. an unknown local DC), credentials, invalid queries. */
function isPermanent(error: unknown): boolean {
  if (error instanceof errors.ArgumentError || error instanceof errors.AuthenticationError) return true;
  return error instanceof errors.ResponseError && !RETRYABLE_CODES.has(error.code);
}

/** The per-host errors of a NoHostAvailableError (empty when every host is down and awaiting reconnection). */
const innerErrors = (error: cassandra.errors.NoHostAvailableError): [string, unknown][] =>
  Object.entries(error.innerErrors ?? {});

/**
 * Whether a driver error is transient: timeouts, unavailable/overloaded replicas, dropped sockets, and no
 * reachable host unless a host answered with something permanent.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof errors.NoHostAvailableError) return !innerErrors(error).some(([, e]) => isPermanent(e));
  if (error instanceof errors.OperationTimedOutError || error instanceof errors.BusyConnectionError) return true;
  if (error instanceof errors.ResponseError) return RETRYABLE_CODES.has(error.code);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_SOCKET_CODES.has(code);
}

/** One line per error: the driver's NoHostAvailableError message would inline each inner error's stack. */
function explain(error: unknown): string {
  if (error instanceof errors.NoHostAvailableError) {
    const hosts = innerErrors(error).map(([host, e]) => `${host}: ${e instanceof Error ? e.message : String(e)}`);
    return hosts.length ? `no host could answer (${hosts.join("; ")})` : "no host is up (all down or reconnecting)";
  }
  return error instanceof Error ? error.message : String(error);
}

/** Wraps a driver error at the edge: the operation, what went wrong, retryability and the cause. */
export function toStoreError(what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError(`cassandra: ${what} failed: ${explain(error)}`, isRetryable(error), { cause: error });
}

/**
 * Runs one request, retrying transient failures while `budgetMs` lasts (a call takes about one request timeout at
 * most); then rejects with a StoreError.
 */
export function retried<T>(what: string, budgetMs: number, fn: () => Promise<T>): Promise<T> {
  return withRetry(fn, {
    attempts: ATTEMPTS,
    budgetMs,
    backoff: BACKOFF,
    retryable: (error) => !(error instanceof StoreError) && isRetryable(error),
    wrap: (error) => toStoreError(what, error),
  });
}
