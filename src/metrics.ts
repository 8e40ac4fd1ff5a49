// Prometheus metrics (prom-client) and the in-process latency reservoir the benchmark reads.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { contention } from "./db/busy.ts";
import { refusedWrites, writeFailure } from "./db/health.ts";

export class Metrics {
  readonly registry = new Registry();
  readonly messages = new Counter({
    name: "ecom_messages_total",
    help: "Messages handled by role and outcome",
    labelNames: ["role", "outcome"] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "ecom_produce_to_store_seconds",
    help: "Time from produced_at to the store write, by role",
    labelNames: ["role"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly outboxPending = new Gauge({ name: "ecom_outbox_pending", help: "Outbox rows not yet confirmed by the transport", registers: [this.registry] });
  readonly outboxSent = new Gauge({ name: "ecom_outbox_sent_total", help: "Outbox rows confirmed by the transport", registers: [this.registry] });
  readonly deadLetters = new Gauge({ name: "ecom_dead_letters", help: "Dead-letter records by status", labelNames: ["status"] as const, registers: [this.registry] });
  /** GET /status's counters per role, set at each scrape: durable in the data dir, so they only reset with it. */
  readonly counters = new Gauge({ name: "ecom_counter_total", help: "GET /status counters by role (durable in the data dir)", labelNames: ["role", "counter"] as const, registers: [this.registry] });
  readonly up = new Gauge({ name: "ecom_up", help: "1 while the process runs", registers: [this.registry] });
  // Read at scrape time from src/db/busy.ts (counts kept as gauges, as ecom_outbox_sent_total is).
  readonly sqliteBusy = new Gauge({
    name: "ecom_sqlite_busy_total",
    help: "SQLite writes that found the data dir locked by another connection past the busy timeout (each tried again)",
    registers: [this.registry],
    collect() {
      this.set(contention.busy);
    },
  });
  readonly sqliteBusyWait = new Gauge({
    name: "ecom_sqlite_busy_wait_seconds_total",
    help: "Time SQLite writes waited for another connection's lock, off the event loop",
    registers: [this.registry],
    collect() {
      this.set(contention.waitedMs / 1000);
    },
  });
  readonly dataDirWritable = new Gauge({
    name: "ecom_data_dir_writable",
    help: "0 from the first write the data dir refused (disk full, read-only) until the write probe succeeds, else 1",
    registers: [this.registry],
    collect() {
      this.set(writeFailure() ? 0 : 1);
    },
  });
  readonly dataDirRefused = new Gauge({
    name: "ecom_data_dir_refused_writes_total",
    help: "Writes the data dir refused (disk full, read-only, I/O error); consumers hold their messages and try again",
    registers: [this.registry],
    collect() {
      this.set(refusedWrites.count);
    },
  });
  readonly sqliteBusyGaveUp = new Gauge({
    name: "ecom_sqlite_busy_gave_up_total",
    help: "SQLite writes that gave up after waiting 30 s for another connection's lock",
    registers: [this.registry],
    collect() {
      this.set(contention.gaveUp);
    },
  });
  /** Raw produce→store latencies (ms), bounded reservoir for percentiles. */
  private readonly samples: number[] = [];
  private seenSamples = 0;
  /** The latencies since the console's last look (bounded reservoir too): its p50/p99 are of the last few seconds. */
  private readonly recent: number[] = [];
  private seenRecent = 0;
  /** Latencies (ms) per role since the last takeLatencyWindow, when a publisher asks for intervals (CloudWatch). */
  private windows: Map<string, { samples: number[]; seen: number }> | null = null;
  /** The histogram's child per role: label hashing once, not per observation. */
  private readonly latencyOf = new Map<string, { observe(value: number): void }>();

  constructor() {
    this.up.set(1);
  }

  observeLatency(role: string, ms: number): void {
    let histogram = this.latencyOf.get(role);
    if (!histogram) this.latencyOf.set(role, (histogram = this.latency.labels(role)));
    histogram.observe(ms / 1000);
    this.seenSamples++;
    if (this.samples.length < 200_000) this.samples.push(ms);
    else {
      const j = Math.floor(Math.random() * this.seenSamples);
      if (j < this.samples.length) this.samples[j] = ms;
    }
    this.seenRecent++;
    if (this.recent.length < 4096) this.recent.push(ms);
    else {
      const j = Math.floor(Math.random() * this.seenRecent);
      if (j < this.recent.length) this.recent[j] = ms;
    }
    if (this.windows) {
      let w = this.windows.get(role);
      if (!w) this.windows.set(role, (w = { samples: [], seen: 0 }));
      // A reservoir of 10,000 per interval and role: quantiles stay representative, memory bounded.
      w.seen++;
      if (w.samples.length < 10_000) w.samples.push(ms);
      else {
        const j = Math.floor(Math.random() * w.seen);
        if (j < w.samples.length) w.samples[j] = ms;
      }
    }
  }

  /** Starts (or stops) keeping per-interval latencies per role for takeLatencyWindow. */
  windowLatency(on: boolean): void {
    this.windows = on ? (this.windows ?? new Map()) : null;
  }

  /** p50 and p99 (ms, nearest rank) of `role`'s latencies since its last call, or null when none; starts a new interval. */
  takeLatencyWindow(role: string): { p50: number; p99: number; count: number } | null {
    const w = this.windows?.get(role);
    if (!w || w.samples.length === 0) return null;
    this.windows!.delete(role);
    const sorted = w.samples.sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
    return { p50: at(50), p99: at(99), count: w.seen };
  }

  /** p50 and p99 (ms) of the latencies observed since the previous call, and how many there were; then starts anew. */
  takeRecent(): { p50: number | null; p99: number | null; count: number } {
    const sorted = this.recent.sort((a, b) => a - b);
    const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : null);
    const result = { p50: at(0.5), p99: at(0.99), count: this.seenRecent };
    this.recent.length = 0;
    this.seenRecent = 0;
    return result;
  }

  /** p-th percentile (0..100) of observed latencies in ms, or null when none. */
  percentile(p: number): number | null {
    if (this.samples.length === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  }

  resetLatency(): void {
    this.samples.length = 0;
    this.seenSamples = 0;
  }
}
