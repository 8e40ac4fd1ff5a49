// The relay: drains the outbox into the transport in batches; the timer that wakes it is kept apart.
import { whenWritable } from "../db/busy.ts";
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
export async function drainOnce(
  outbox: Outbox,
  transport: Transport,
  batchSize: number,
  leaseMs: number,
  log?: Logger,
  signal?: AbortSignal,
): Promise<{ claimed: number; sent: number }> {
  // Each write waits out another process's lock off the event loop; marking rows sent must not be skipped, or
  // confirmed messages would be published again.
  if (transport.publishOutbox) {
    // The queue is in the outbox's database: move the rows there in one transaction.
    if (!(await whenWritable(() => outbox.lease(leaseMs)))) return { claimed: 0, sent: 0 };
    const moved = await whenWritable(() => transport.publishOutbox!(batchSize, (n) => outbox.countSent(n)));
    return { claimed: moved, sent: moved };
  }
  const rows = await whenWritable(() => outbox.claim(batchSize, leaseMs));
  if (rows.length === 0) return { claimed: 0, sent: 0 };
  let failed: Map<string, TransportError | null>;
  let error = "";
  // A publish can outlast the lease on a slow broker; if the lease lapsed meanwhile, another process's relay would
  // claim the same rows and publish them a second time while this one is still at it, doubling the broker's load.
  const renew = setInterval(() => {
    try {
      outbox.lease(leaseMs);
    } catch {
      // Locked this time (the next tick tries again); the lease has half its term left when renewal starts.
    }
  }, Math.max(50, leaseMs / 4));
  try {
    const result = await transport.publish(rows, signal);
    failed = new Map(result.failed.map((f) => [f.id, f.error]));
    const attempted = result.failed.find((f) => !f.error.deferred);
    if (attempted) error = attempted.error.message;
  } catch (e) {
    failed = new Map(rows.map((r) => [r.id, null]));
    error = (e as Error).message;
  } finally {
    clearInterval(renew);
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
  await whenWritable(() => outbox.markSent(sent.map((r) => r.seq)));
  if (retry.length) {
    const backoff = Math.min(30_000, 250 * 2 ** Math.min(7, retry[0]!.attempts));
    await whenWritable(() => outbox.release(retry.map((r) => r.seq), backoff, error));
    log?.warn({ failed: retry.length, retry_in_ms: backoff, error }, "outbox publish failed; will retry");
  }
  if (deferred) log?.debug({ deferred }, "outbox publish held back by the transport; will retry");
  return { claimed: rows.length, sent: sent.length };
}

const STEP_LOG_MS = 30_000;
const STEP_BACKOFF_MAX_MS = 5_000;

export class Relay {
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private pending = false;
  private backingOff = false;
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
    // New rows do not cut a back-off short (stop() still does).
    if (!this.backingOff) this.wake?.();
  }

  private async run(): Promise<void> {
    const leaseMs = this.options.leaseMs ?? 5_000;
    const pollMs = this.options.pollMs ?? 100;
    // A step that throws (the database itself failing: disk full, I/O error) backs off, and is logged when it starts
    // failing and then at most every STEP_LOG_MS with how often it failed since, not on every try.
    let failures = 0;
    let loggedAt = 0;
    while (this.running) {
      this.pending = false;
      let result = { claimed: 0, sent: 0 };
      let backoff = 0;
      try {
        result = await drainOnce(this.outbox, this.transport, this.options.batchSize, leaseMs, this.log);
        if (failures) this.log.info({ failures }, "outbox relay steps succeed again");
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1 || Date.now() - loggedAt >= STEP_LOG_MS) {
          loggedAt = Date.now();
          this.log.error({ err: error, failures }, "outbox relay step failed; backing off");
        }
        backoff = Math.min(STEP_BACKOFF_MAX_MS, 100 * 2 ** Math.min(failures, 6));
      }
      const more = result.claimed === this.options.batchSize || (result.claimed > 0 && result.sent === result.claimed) || this.pending;
      if (more && !backoff) continue;
      this.backingOff = backoff > 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff || (result.claimed > result.sent ? 250 : pollMs));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
      this.backingOff = false;
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
    try {
      this.outbox.releaseLease();
    } catch (error) {
      // The lease lapses by itself (leaseMs); another relay takes over then.
      this.log.warn({ err: error }, "outbox relay lease not released");
    }
  }
}
