// gRPC errors of the Pub/Sub client as TransportErrors: which are retryable, and their text cut to what matters.
import { TransportError } from "../types.ts";

// gRPC status codes (google.rpc.Code).
export const ALREADY_EXISTS = 6;
export const NOT_FOUND = 5;
const RETRYABLE_CODES = new Set([
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  13, // INTERNAL
  14, // UNAVAILABLE
]);

export interface GrpcLikeError {
  code?: number | string;
  details?: string;
  message?: string;
  name?: string;
  /** PublishError (ordering keys) wraps the gRPC error here. */
  error?: GrpcLikeError;
}

export function grpcCode(error: unknown): number | undefined {
  const e = (error ?? {}) as GrpcLikeError;
  if (typeof e.code === "number") return e.code;
  if (e.error && typeof e.error.code === "number") return e.error.code;
  return undefined;
}

/** UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED and INTERNAL are worth another try. */
export function isRetryablePubsubError(error: unknown): boolean {
  const code = grpcCode(error);
  if (code !== undefined) return RETRYABLE_CODES.has(code);
  const e = (error ?? {}) as GrpcLikeError;
  const network = /^E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT|AI_AGAIN|HOSTUNREACH|NETUNREACH)$/;
  return typeof e.code === "string" && network.test(e.code);
}

/**
 * A gRPC error's text without grpc-js's resolution notes and gax's list of earlier tries (a failed call retried until
 * its timeout repeats every attempt's error: kilobytes of the same line).
 */
export function briefGrpcText(text: string): string {
  const last = /retrying error Error: (.*)$/s.exec(text)?.[1] ?? text;
  const brief = last.replace(/\s*:?\s*Previous errors\s*:.*$/s, "").replace(/\.?\s*Resolution note:.*$/s, "").trim();
  return brief.length > 300 ? `${brief.slice(0, 300)}...` : brief;
}

/** What an error says, briefly (see briefGrpcText). */
export function errorText(error: unknown): string {
  const e = (error ?? {}) as GrpcLikeError;
  return briefGrpcText(e.details || e.message || String(error));
}

export function wrap(error: unknown, what: string, messageIds?: string[]): TransportError {
  if (error instanceof TransportError) return error;
  const hint = grpcCode(error) === NOT_FOUND ? "; run `ecom provision` to create it" : "";
  return new TransportError(`${what}: ${errorText(error)}${hint}`, isRetryablePubsubError(error), {
    cause: error,
    messageIds,
  });
}

/** Rejects when the signal aborts (a string reason says why); otherwise settles like `promise`. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const why = typeof signal.reason === "string" ? signal.reason : "aborted";
      reject(new TransportError(`${what}: ${why}`, true, { cause: signal.reason }));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
