// Splitting work into fixed-size requests and running them with a bound on how many are in flight.

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `work` over items with at most `limit` calls in flight. */
export async function forEachLimit<T>(
  items: readonly T[], limit: number, work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A counting semaphore: at most `max` requests in flight across the whole store, first come first served. */
export class Limiter {
  private active = 0;
  /** FIFO of waiters; `head` advances instead of shift(), which is O(n) with thousands queued. */
  private waiting: (() => void)[] = [];
  private head = 0;
  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the releasing request hands over its slot
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.waiting[this.head];
    if (!next) {
      this.active--;
      return;
    }
    this.head++;
    // drop the served prefix once it is most of the array, so a queue that never drains stays bounded
    if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      [this.waiting, this.head] = [this.waiting.slice(this.head), 0];
    }
    next();
  }
}
