// SQLite write contention: a short busy timeout blocks the thread briefly; longer waits happen here, off the loop.
import { isStorageFailure, noteWriteFailure, refusedWrites } from "./health.ts";

/** What this process met of other connections holding the write lock (shown in /metrics). */
export interface ContentionStats {
  /** Writes that found the database locked past the busy timeout (each tried again later). */
  busy: number;
  /** Time spent waiting between those tries, in ms (the event loop ran meanwhile). */
  waitedMs: number;
  /** Writes that gave up after waiting `maxWaitMs`: their caller's error handling took over. */
  gaveUp: number;
}

/** One per process: every connection of a process shares the same data dir, so one count says it all. */
export const contention: ContentionStats = { busy: 0, waitedMs: 0, gaveUp: 0 };

/** The busy timeout a connection gets (`PRAGMA busy_timeout`): the longest a single try may block the thread. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5;
/** How long a write keeps trying before its error reaches its caller. */
const MAX_WAIT_MS = 30_000;

/** SQLITE_BUSY (and its extended codes): another connection holds the lock; trying again later can succeed. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("SQLITE_BUSY")) return true;
  return /SQLITE_BUSY|database is locked/i.test(String((error as Error | null)?.message ?? ""));
}

/** Counts one busy error met by a caller with its own back-off (a store call, a lease renewal). */
export function noteBusy(): void {
  contention.busy++;
}

/**
 * Runs a synchronous write (a whole transaction) and, while it finds the database locked, runs it again after a
 * pause that yields to the event loop (5 ms doubling to 250 ms), for up to 30 s; then the busy error is thrown.
 * With `storage: "wait"` a data dir that cannot take writes (disk full, read-only) is waited out the same way, with
 * pauses up to 2 s and no time limit: a consumer holds its messages instead of failing them (health.ts tells why).
 * `fn` must be safe to run again: a transaction that threw has been rolled back. When `signal` aborts, the wait
 * ends, `fn` runs once more, and its error then is thrown.
 */
export async function whenWritable<T>(
  fn: () => T,
  signal?: AbortSignal,
  options: { storage?: "throw" | "wait" } = {},
): Promise<T> {
  const started = Date.now();
  let busyTries = 0;
  let storageTries = 0;
  for (;;) {
    let delay: number;
    try {
      return fn();
    } catch (error) {
      if (isBusy(error)) {
        contention.busy++;
        if (Date.now() - started >= MAX_WAIT_MS || signal?.aborted) {
          contention.gaveUp++;
          throw error;
        }
        // Up to 250 ms: every loop of the process (producer, relay, each consumer) tries on its own, and each try
        // may block the thread for the busy timeout: fewer tries leave more of the thread to the API meanwhile.
        delay = Math.min(250, 5 * 2 ** Math.min(busyTries++, 6));
      } else if (isStorageFailure(error)) {
        noteWriteFailure(error);
        refusedWrites.count++;
        if (options.storage !== "wait" || signal?.aborted) throw error;
        delay = Math.min(2000, 100 * 2 ** Math.min(storageTries++, 5));
      } else {
        throw error;
      }
    }
    const before = Date.now();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, delay);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
    if (busyTries) contention.waitedMs += Date.now() - before;
  }
}

/**
 * whenWritable for the few writes made while a process starts, before it serves anything (registering the local
 * queue's subscriptions): the pauses block the thread, as opening the database does, for up to 15 s.
 */
export function whenWritableSync<T>(fn: () => T): T {
  const started = Date.now();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (error) {
      if (!isBusy(error)) throw error;
      contention.busy++;
      if (Date.now() - started >= 15_000) {
        contention.gaveUp++;
        throw error;
      }
    }
    Atomics.wait(pause, 0, 0, Math.min(100, 5 * 2 ** Math.min(attempt, 5)));
  }
}
