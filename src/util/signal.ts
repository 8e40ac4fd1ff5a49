// A promise-based wake-up shared by the broker transports (pollers waiting for buffer space, close waiting for
// in-flight batches, the SNS backlog gate).

/**
 * Waiters resume on the next notify(), after `ms` when given, or when `signal` aborts; a finished wait leaves no
 * waiter behind.
 */
export class Signal {
  #waiters = new Set<() => void>();

  wait(signal?: AbortSignal, ms?: number): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = ms === undefined ? undefined : setTimeout(done, Math.max(0, ms));
      const waiters = this.#waiters;
      function done() {
        clearTimeout(timer);
        waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
      waiters.add(done);
    });
  }

  notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
