// How many calls a client keeps open on a broker: grows by one per answer, halves when the broker is overloaded.

/**
 * An additive-increase / multiplicative-decrease bound on calls in flight. A broker that times out or throttles gets
 * half as many calls at once, so work its clients gave up on (which a server such as moto still runs) stops piling up;
 * each answer in time lets one more call through again, up to `max`.
 */
export class CallWindow {
  private open = 0;
  private current: number;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly max: number,
    private readonly min = 1,
  ) {
    this.current = max;
  }

  /** Calls allowed at once now. */
  get limit(): number {
    return Math.floor(this.current);
  }

  /** Resolves once a call may start (or at once when `signal` aborts, so the caller can give up). */
  async acquire(signal?: AbortSignal): Promise<void> {
    while (this.open >= this.limit && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal?.removeEventListener("abort", done);
          resolve();
        };
        this.waiting.push(done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
    this.open++;
  }

  /** The call ended: `overloaded` when the broker timed out or throttled it. */
  release(overloaded: boolean): void {
    this.open--;
    if (overloaded) this.current = Math.max(this.min, this.current / 2);
    // One more per window's worth of answers in time: a full window back after a cut takes a few rounds, not one.
    else this.current = Math.min(this.max, this.current + 1 / Math.max(1, this.limit));
    // Every waiter looks again; those that still find the window full wait on.
    for (const wake of this.waiting.splice(0)) wake();
  }
}
