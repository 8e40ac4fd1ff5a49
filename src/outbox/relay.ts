// The relay: drains the outbox into the transport in batches; the timer that wakes it is kept apart.
import type { Logger } from "../log.ts";
import type { Transport, TransportError } from "../transport/types.ts";
import type { Outbox, OutboxRow } from "./outbox.ts";

export interface RelayOptions {
  batchSize: number;
  /** How long a claimed batch is reserved for this relay. */
  leaseMs?: number;
  /** How often to look for rows written by other processes. */
  pollMs?: number;
}

/**
 * One drain step: claim, publish, mark sent what was confirmed, release the failed ones with backoff; rows the
 * transport deferred (backpressure) stay due untouched. Returns rows claimed and sent.
 */
export async function drainOnce(outbox: Outbox, transport: Transport, batchSize: number, leaseMs: number, log?: Logger): Promise<{ claimed: number; sent: number }> {
  if (transport.publishOutbox) {
    // The queue is in the outbox's database: move the rows there in one transaction.
    if (!outbox.lease(leaseMs)) return { claimed: 0, sent: 0 };
    const moved = transport.publishOutbox(batchSize, (n) => outbox.countSent(n));
    return { claimed: moved, sent: moved };
  }
  const rows = outbox.claim(batchSize, leaseMs);
  if (rows.length === 0) return { claimed: 0, sent: 0 };
  let failed: Map<string, TransportError | null>;
  let error = "";
  try {
    const result = await transport.publish(rows);
    failed = new Map(result.failed.map((f) => [f.id, f.error]));
    const attempted = result.failed.find((f) => !f.error.deferred);
    if (attempted) error = attempted.error.message;
  } catch (e) {
    failed = new Map(rows.map((r) => [r.id, null]));
    error = (e as Error).message;
  }
  const sent: OutboxRow[] = [];
  const retry: OutboxRow[] = [];
  let deferred = 0;
  for (const row of rows) {
    if (!failed.has(row.id)) sent.push(row);
    // Held back by the transport (backpressure): the row stays due as it is, with no attempt counted.
    else if (failed.get(row.id)?.deferred) deferred++;
    else retry.push(row);
  }
  outbox.markSent(sent.map((r) => r.seq));
  if (retry.length) {
    const backoff = Math.min(30_000, 250 * 2 ** Math.min(7, retry[0]!.attempts));
    outbox.release(retry.map((r) => r.seq), backoff, error);
    log?.warn({ failed: retry.length, retry_in_ms: backoff, error }, "outbox publish failed; will retry");
  }
  if (deferred) log?.debug({ deferred }, "outbox publish held back by the transport; will retry");
  return { claimed: rows.length, sent: sent.length };
}

export class Relay {
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private pending = false;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly outbox: Outbox,
    private readonly transport: Transport,
    private readonly log: Logger,
    private readonly options: RelayOptions,
  ) {}

  /** Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.outbox.onAdded(() => this.kick());
    this.loop = this.run();
  }

  kick(): void {
    this.pending = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    const leaseMs = this.options.leaseMs ?? 5_000;
    const pollMs = this.options.pollMs ?? 100;
    while (this.running) {
      this.pending = false;
      let result = { claimed: 0, sent: 0 };
      try {
        result = await drainOnce(this.outbox, this.transport, this.options.batchSize, leaseMs, this.log);
      } catch (error) {
        this.log.error({ err: error }, "outbox relay step failed");
      }
      if (result.claimed === this.options.batchSize || (result.claimed > 0 && result.sent === result.claimed)) continue;
      if (this.pending) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, result.claimed > result.sent ? 250 : pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Stops the loop after the step in flight; then flushes what is left, within `deadlineMs`. */
  async stop(deadlineMs = 5000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      const { claimed, sent } = await drainOnce(this.outbox, this.transport, this.options.batchSize, this.options.leaseMs ?? 5_000, this.log).catch(() => ({ claimed: 0, sent: 0 }));
      if (claimed === 0 || sent < claimed) break;
    }
    this.outbox.releaseLease();
  }
}
