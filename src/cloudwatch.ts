// Publishes role counters, outbox pending, dead letters pending and latency p50/p99 to CloudWatch, off the pipeline's path.
import { CloudWatchClient, PutMetricDataCommand, type MetricDatum, type StandardUnit } from "@aws-sdk/client-cloudwatch";
import type { Config } from "./config/types.ts";
import type { Logger } from "./log.ts";
import { BASE_COUNTERS, type RoleContext } from "./roles/context.ts";

/** PutMetricData takes at most 1000 data points per call. */
export const MAX_DATA_PER_CALL = 1000;
/** A failure is logged when it starts, then at most this often (with how many calls failed meanwhile). */
const FAILURE_LOG_EVERY_MS = 30_000;

/** The counter a metric name stands for: received -> Received, dead_lettered -> DeadLettered. */
export const metricName = (counter: string) => counter.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** The roles whose handlers observe produce→store latency (the store write is theirs). */
const LATENCY_ROLES = new Set(["order", "payment"]);

export function cloudwatchClient(config: Readonly<Config>): CloudWatchClient {
  return new CloudWatchClient({
    region: config.aws.region,
    endpoint: config.aws.cloudwatchEndpoint,
    // One attempt per tick: the next tick is the retry, so a slow or dead endpoint never piles calls up.
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
  });
}

export interface PublisherOptions {
  instance: string;
  client?: Pick<CloudWatchClient, "send" | "destroy">;
  now?: () => Date;
}

/**
 * Every interval: the counters' growth since the last tick per role (Count), the latency quantiles of the interval
 * per storing role (Milliseconds), outbox pending and (with the dlq role) dead letters pending; each with the
 * dimensions {Role, Instance} and {Role} (CloudWatch does not aggregate across dimensions: alarms use the second).
 * One call at a time; a failed call keeps its data for the next tick. Data waiting past --cloudwatch-max-pending
 * are dropped oldest first and counted (MetricsDropped), so an outage costs bounded memory.
 */
export class CloudwatchPublisher {
  private readonly client: Pick<CloudWatchClient, "send" | "destroy">;
  private readonly namespace: string;
  private readonly now: () => Date;
  private readonly last = new Map<string, Record<string, number>>();
  private pending: MetricDatum[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private sending: Promise<void> | null = null;
  private failingSince: number | null = null;
  private failedCalls = 0;
  private lastFailureLog = 0;
  /** Data points dropped since the last tick that could report them. */
  private droppedUnreported = 0;
  /** Totals, for logs and tests. */
  dropped = 0;
  calls = 0;
  sent = 0;

  constructor(
    private readonly ctx: RoleContext,
    private readonly options: PublisherOptions,
  ) {
    this.client = options.client ?? cloudwatchClient(ctx.config);
    this.namespace = ctx.config.cloudwatch.namespace;
    this.now = options.now ?? (() => new Date());
    ctx.metrics.windowLatency(true);
    // Counters are durable and cumulative: what a run publishes is what grew from here on.
    for (const role of ctx.config.roles) this.last.set(role, ctx.counters.get(role));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.ctx.config.cloudwatch.intervalMs);
    this.timer.unref?.();
  }

  /** A last tick (what grew since the previous one), flushed within `graceMs`; what is left is dropped. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    let timeout: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.tick(), new Promise<void>((r) => (timeout = setTimeout(r, graceMs)))]);
    clearTimeout(timeout);
    this.client.destroy();
  }

  /** Collects this interval's data and sends what waits. Never throws. */
  async tick(): Promise<void> {
    try {
      this.enqueue(await this.collect());
    } catch (error) {
      this.ctx.log.warn({ err: error }, "cloudwatch: collecting metrics failed");
    }
    await this.flush();
  }

  private dims(role: string): { Name: string; Value: string }[][] {
    return [
      [{ Name: "Role", Value: role }, { Name: "Instance", Value: this.options.instance }],
      [{ Name: "Role", Value: role }],
    ];
  }

  /** This interval's data points. */
  async collect(): Promise<MetricDatum[]> {
    const { ctx } = this;
    const at = this.now();
    const data: MetricDatum[] = [];
    const add = (name: string, role: string | null, value: number, unit: StandardUnit) => {
      const sets = role === null ? [[{ Name: "Instance", Value: this.options.instance }], []] : this.dims(role);
      for (const Dimensions of sets) data.push({ MetricName: name, Dimensions, Value: value, Unit: unit, Timestamp: at });
    };
    for (const role of ctx.config.roles) {
      const now = ctx.counters.get(role);
      const before = this.last.get(role) ?? {};
      this.last.set(role, now);
      for (const counter of BASE_COUNTERS) add(metricName(counter), role, (now[counter] ?? 0) - (before[counter] ?? 0), "Count");
      if (LATENCY_ROLES.has(role)) {
        const q = ctx.metrics.takeLatencyWindow(role);
        if (q) {
          add("LatencyP50", role, q.p50, "Milliseconds");
          add("LatencyP99", role, q.p99, "Milliseconds");
        }
      }
    }
    // Fleet-wide with no dimension (one outbox per data dir) and per instance.
    add("OutboxPending", null, ctx.outbox.stats().pending, "Count");
    if (ctx.config.roles.includes("dlq")) {
      try {
        add("DeadLettersPending", "dlq", (await ctx.store.deadLetterCounts()).pending, "Count");
      } catch (error) {
        ctx.log.debug({ err: error }, "cloudwatch: dead letters pending not read this interval");
      }
    }
    if (this.droppedUnreported > 0) {
      add("MetricsDropped", null, this.droppedUnreported, "Count");
      this.droppedUnreported = 0;
    }
    return data;
  }

  /** Queues data, dropping the oldest past the bound. */
  enqueue(data: MetricDatum[]): void {
    this.pending.push(...data);
    const over = this.pending.length - this.ctx.config.cloudwatch.maxPending;
    if (over > 0) {
      this.pending.splice(0, over);
      this.dropped += over;
      this.droppedUnreported += over;
      this.ctx.log.warn({ dropped: over, dropped_total: this.dropped, max_pending: this.ctx.config.cloudwatch.maxPending }, "cloudwatch: data points dropped (--cloudwatch-max-pending reached while CloudWatch fails)");
    }
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Sends what waits, 1000 per call, one call at a time; stops at the first failure (the next tick retries). */
  flush(): Promise<void> {
    this.sending ??= (async () => {
      try {
        while (this.pending.length > 0) {
          const batch = this.pending.slice(0, MAX_DATA_PER_CALL);
          try {
            this.calls++;
            await this.client.send(new PutMetricDataCommand({ Namespace: this.namespace, MetricData: batch }));
          } catch (error) {
            this.failed(error);
            return;
          }
          this.pending.splice(0, batch.length);
          this.sent += batch.length;
          this.recovered();
        }
      } finally {
        this.sending = null;
      }
    })();
    return this.sending;
  }

  private failed(error: unknown): void {
    const now = Date.now();
    this.failedCalls++;
    if (this.failingSince === null || now - this.lastFailureLog >= FAILURE_LOG_EVERY_MS) {
      this.failingSince ??= now;
      this.lastFailureLog = now;
      const e = error as { name?: string; message?: string };
      this.ctx.log.warn(
        { error: `${e.name ?? "Error"}: ${e.message ?? String(error)}`, failed_calls: this.failedCalls, waiting: this.pending.length, endpoint: this.ctx.config.aws.cloudwatchEndpoint ?? "AWS" },
        "cloudwatch: PutMetricData failed; the data wait for the next interval",
      );
    }
  }

  private recovered(): void {
    if (this.failingSince === null) return;
    this.ctx.log.info({ failed_calls: this.failedCalls, down_ms: Date.now() - this.failingSince, dropped_total: this.dropped }, "cloudwatch: PutMetricData works again");
    this.failingSince = null;
    this.failedCalls = 0;
  }
}

/** The publisher for a process, or null without --cloudwatch. */
export function startCloudwatch(ctx: RoleContext, instance: string, log: Logger = ctx.log): CloudwatchPublisher | null {
  if (!ctx.config.cloudwatch.enabled) return null;
  const publisher = new CloudwatchPublisher(ctx, { instance });
  publisher.start();
  log.info({ namespace: ctx.config.cloudwatch.namespace, interval_ms: ctx.config.cloudwatch.intervalMs, instance }, "cloudwatch: publishing metrics");
  return publisher;
}
