// Retry with exponential back-off and jitter, shared by every store and transport backend.
import { pause } from "./pause.ts";

export interface BackoffOptions {
  /** The delay after the first failure (before jitter). */
  baseMs: number;
  /** The largest delay (before jitter); default no cap. */
  maxMs?: number;
  /**
   * The share of the delay that is random: 0.5 waits between half the delay and the whole ("equal jitter"), 1
   * anywhere up to it. Jitter keeps many clients that failed together from retrying in step.
   */
  jitter: number;
}

/** The wait after the `failures`-th failure in a row (1 = the first): base x 2^(failures - 1), capped, jittered. */
export function backoffMs(failures: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.maxMs ?? Infinity, options.baseMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  return Math.round(ceiling * (1 - options.jitter) + Math.random() * ceiling * options.jitter);
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** No retry starts whose wait would end past this many ms after the first attempt began. */
  budgetMs: number;
  backoff: BackoffOptions;
  /** Whether a failure is worth another attempt (throttling, timeouts, dropped connections). */
  retryable(error: unknown): boolean;
  /** The error the caller sees once retries are over or not worth it: the backend's named error with `cause`. */
  wrap(error: unknown): Error;
  signal?: AbortSignal;
}

/**
 * Runs `fn`, retrying retryable failures with back-off while attempts and the budget last (so a request that already
 * timed out is not repeated: a call takes about one request timeout at most); then rejects with `wrap(error)`.
 */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const delay = backoffMs(attempt, options.backoff);
      const again = attempt < options.attempts && options.retryable(error) && Date.now() + delay < deadline;
      if (!again || options.signal?.aborted) throw options.wrap(error);
      await pause(delay, options.signal);
    }
  }
}
