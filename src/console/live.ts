// The console's live view: a status snapshot every second for GET /events, and 15 minutes of rates kept in a ring buffer.
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

/** A fixed-size buffer that overwrites its oldest item: the history's memory is bounded whatever the uptime. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    const start = (this.next - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i++) out.push(this.items[(start + i) % this.capacity]!);
    return out;
  }

  /** The item `back` places before the newest (0 = the newest), or undefined. */
  at(back: number): T | undefined {
    if (back < 0 || back >= this.size) return undefined;
    return this.items[(this.next - 1 - back + this.capacity * 2) % this.capacity];
  }
}

type Counters = Record<string, Record<string, number | null>>;
/** What GET /status answers (statusOf), as the live view reads it. */
export interface StatusLike {
  roles: readonly string[];
  counters: Counters;
  outbox: { pending: number; sent: number };
  [key: string]: unknown;
}
export interface Readiness {
  ready: boolean;
  transport: string;
  store: string;
}

export interface Sample {
  /** Epoch ms. */
  t: number;
  /** Messages/s per role over the last RATE_WINDOW samples (null until there are two). */
  rates: Record<string, number | null>;
  counters: Counters;
  outboxPending: number;
  p50: number | null;
  p99: number | null;
}

/** One GET /events message: the status of GET /status plus rates, recent latency and readiness. */
export interface Snapshot extends StatusLike {
  t: number;
  rates: Record<string, number | null>;
  latency_ms: { p50: number | null; p99: number | null; count: number };
  ready: (Readiness & { checked_at: string }) | null;
}

/** The history as columns (uPlot's shape): one array per series, aligned on `t` (epoch seconds). */
export interface History {
  interval_ms: number;
  t: number[];
  rates: Record<string, (number | null)[]>;
  outbox_pending: number[];
  p50: (number | null)[];
  p99: (number | null)[];
}

export interface LiveOptions {
  /** Status as GET /status has it, with the dlq role's pending count given by `pending`. */
  status: (pending: () => Promise<number | null>) => Promise<StatusLike>;
  pendingDeadLetters: () => Promise<number | null>;
  readiness: () => Promise<Readiness>;
  metrics: Pick<Metrics, "takeRecent">;
  log: Logger;
  intervalMs?: number;
  keepMs?: number;
  /** Readiness and the pending dead letters (a store query, a scan on Cassandra) are read this often, only while a page is open. */
  slowMs?: number;
  clock?: () => number;
}

/** The counter whose growth is a role's throughput: what the producer wrote, what a consumer received. */
const throughputOf = (role: string) => (role === "producer" ? "processed" : "received");
const RATE_WINDOW = 5;

export class LiveStatus {
  readonly intervalMs: number;
  private readonly ring: Ring<Sample>;
  private readonly listeners = new Set<(s: Snapshot) => void>();
  private readonly slowMs: number;
  private readonly clock: () => number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private busy = false;
  private latest: Snapshot | null = null;
  private ready: Snapshot["ready"] = null;
  private pending: number | null = null;
  private slowAt = 0;
  private slow: Promise<void> | null = null;
  private warnedAt = 0;

  constructor(private readonly options: LiveOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.slowMs = options.slowMs ?? 10_000;
    this.clock = options.clock ?? Date.now;
    this.ring = new Ring(Math.ceil((options.keepMs ?? 15 * 60_000) / this.intervalMs));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Calls `listener` with each new snapshot; returns the unsubscribe. */
  subscribe(listener: (s: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A snapshot now, for a page just opened: readiness and dead letters read first when stale. */
  async current(): Promise<Snapshot> {
    await this.refreshSlow(true);
    const status = await this.options.status(async () => this.pending);
    const newest = this.ring.at(0);
    return {
      t: this.clock(),
      ...status,
      rates: newest?.rates ?? Object.fromEntries(status.roles.map((r) => [r, null])),
      latency_ms: { p50: newest?.p50 ?? null, p99: newest?.p99 ?? null, count: 0 },
      ready: this.ready,
    };
  }

  history(): History {
    const samples = this.ring.toArray();
    const roles = new Set(samples.flatMap((s) => Object.keys(s.rates)));
    return {
      interval_ms: this.intervalMs,
      t: samples.map((s) => Math.round(s.t / 100) / 10),
      rates: Object.fromEntries([...roles].map((r) => [r, samples.map((s) => s.rates[r] ?? null)])),
      outbox_pending: samples.map((s) => s.outboxPending),
      p50: samples.map((s) => s.p50),
      p99: samples.map((s) => s.p99),
    };
  }

  /** One sample: counters, rates, latency; the snapshot goes to every subscriber. Public for tests. */
  async tick(): Promise<Snapshot | null> {
    if (this.busy) return null;
    this.busy = true;
    try {
      if (this.listeners.size) void this.refreshSlow(false);
      const status = await this.options.status(async () => this.pending);
      const t = this.clock();
      const back = this.ring.at(Math.min(RATE_WINDOW, this.ring.length) - 1);
      const rates: Record<string, number | null> = {};
      for (const role of status.roles) {
        const now = status.counters[role]?.[throughputOf(role)] ?? 0;
        const then = back?.counters[role]?.[throughputOf(role)];
        // A counter that went down (a data dir swapped under a running process) gives 0, not a negative rate.
        rates[role] = back && then != null && now != null && t > back.t ? Math.max(0, ((now - then) * 1000) / (t - back.t)) : null;
        if (rates[role] !== null) rates[role] = Math.round(rates[role]! * 10) / 10;
      }
      const latency = this.options.metrics.takeRecent();
      const previous = this.ring.at(0);
      // With no new observation the last known quantiles stand, so an idle pipeline still shows its recent latency.
      const p50 = latency.count ? latency.p50 : (previous?.p50 ?? null);
      const p99 = latency.count ? latency.p99 : (previous?.p99 ?? null);
      this.ring.push({ t, rates, counters: status.counters, outboxPending: status.outbox.pending, p50, p99 });
      const snapshot: Snapshot = { t, ...status, rates, latency_ms: { p50, p99, count: latency.count }, ready: this.ready };
      this.latest = snapshot;
      for (const listener of this.listeners) listener(snapshot);
      return snapshot;
    } catch (error) {
      if (this.clock() - this.warnedAt > 60_000) {
        this.warnedAt = this.clock();
        this.options.log.warn({ err: error }, "console status sample failed");
      }
      return null;
    } finally {
      this.busy = false;
    }
  }

  get newest(): Snapshot | null {
    return this.latest;
  }

  /** Reads readiness and the pending dead letters when older than slowMs (at once when `wait`), one read at a time. */
  private refreshSlow(wait: boolean): Promise<void> {
    if (this.slow) return wait ? this.slow : Promise.resolve();
    if (this.clock() - this.slowAt < this.slowMs) return Promise.resolve();
    this.slow = (async () => {
      try {
        const [ready, pending] = await Promise.all([this.options.readiness(), this.options.pendingDeadLetters().catch(() => null)]);
        this.ready = { ...ready, checked_at: new Date(this.clock()).toISOString() };
        this.pending = pending;
        this.slowAt = this.clock();
      } finally {
        this.slow = null;
      }
    })();
    return wait ? this.slow : Promise.resolve();
  }
}
