// The CloudWatch publisher's bounds (a unit seam: an injected client): 1000 data points per call, one call at a time,
// a failed call keeps its data, past --cloudwatch-max-pending the oldest are dropped and counted; interval quantiles.
import { describe, expect, test } from "bun:test";
import type { MetricDatum } from "@aws-sdk/client-cloudwatch";
import { loadConfig } from "../../src/config/load.ts";
import { CloudwatchPublisher } from "../../src/cloudwatch.ts";
import { createLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import type { RoleContext } from "../../src/roles/context.ts";

function setup(flags: Record<string, unknown>, counters: Record<string, Record<string, number>>) {
  const config = loadConfig({ flags: { cloudwatch: true, ...flags }, env: {} });
  const calls: MetricDatum[][] = [];
  let failing = false;
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    async send(command: { input: { MetricData?: MetricDatum[] } }) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await Bun.sleep(1);
      inFlight--;
      if (failing) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { name: "Error" });
      calls.push(command.input.MetricData!);
      return {};
    },
    destroy() {},
  };
  const metrics = new Metrics();
  const ctx = {
    config,
    counters: { get: (role: string) => ({ ...(counters[role] ?? {}) }) },
    metrics,
    outbox: { stats: () => ({ pending: 7, sent: 0 }) },
    store: { deadLetterCounts: async () => ({ pending: 3 }) },
    log: createLogger("silent"),
  } as unknown as RoleContext;
  const publisher = new CloudwatchPublisher(ctx, { instance: "i-1", client: client as never, now: () => new Date("2026-01-02T03:04:05Z") });
  return { publisher, calls, metrics, counters, setFailing: (f: boolean) => (failing = f), maxInFlight: () => maxInFlight };
}

const datum = (i: number): MetricDatum => ({ MetricName: "X", Value: i, Unit: "Count" });
const value = (data: MetricDatum[], name: string, dims: number) => data.filter((d) => d.MetricName === name && d.Dimensions!.length === dims).map((d) => [d.Dimensions!.map((x) => x.Value).join("/"), d.Value]);

describe("CloudwatchPublisher", () => {
  test("counters as growth since the last tick, per role with {Role, Instance} and {Role}; gauges and quantiles", async () => {
    const counters: Record<string, Record<string, number>> = { order: { received: 10, processed: 9 }, dlq: { received: 2 } };
    const { publisher, calls, metrics } = setup({ role: "order,dlq" }, counters);
    counters.order = { received: 15, processed: 15, failed: 1 };
    for (let ms = 1; ms <= 200; ms++) metrics.observeLatency("order", ms);
    await publisher.tick();
    expect(calls.length).toBe(1);
    const data = calls[0]!;
    expect(value(data, "Received", 2)).toEqual([["order/i-1", 5], ["dlq/i-1", 0]]);
    expect(value(data, "Received", 1)).toEqual([["order", 5], ["dlq", 0]]);
    expect(value(data, "Processed", 1)).toEqual([["order", 6], ["dlq", 0]]);
    expect(value(data, "Failed", 1)).toEqual([["order", 1], ["dlq", 0]]);
    // Nearest rank of 1..200: p50 = 100, p99 = 198.
    expect(value(data, "LatencyP50", 1)).toEqual([["order", 100]]);
    expect(value(data, "LatencyP99", 2)).toEqual([["order/i-1", 198]]);
    expect(value(data, "OutboxPending", 0)).toEqual([["", 7]]);
    expect(value(data, "OutboxPending", 1)).toEqual([["i-1", 7]]);
    expect(value(data, "DeadLettersPending", 1)).toEqual([["dlq", 3]]);
    // 2 roles x 6 counters x 2 + 2 quantiles x 2 + outbox 2 + dead letters 2.
    expect(data.length).toBe(24 + 4 + 2 + 2);
    await publisher.tick();
    expect(value(calls[1]!, "Received", 1)).toEqual([["order", 0], ["dlq", 0]]);
    expect(value(calls[1]!, "LatencyP50", 1)).toEqual([]);
  });

  test("at most 1000 data points per call, one call at a time", async () => {
    const { publisher, calls, maxInFlight } = setup({ role: "order" }, {});
    publisher.enqueue(Array.from({ length: 2500 }, (_, i) => datum(i)));
    await Promise.all([publisher.flush(), publisher.flush()]);
    expect(calls.map((c) => c.length)).toEqual([1000, 1000, 500]);
    expect(calls.flat().map((d) => d.Value)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(maxInFlight()).toBe(1);
  });

  test("a failing CloudWatch: data kept up to the bound, the oldest dropped and counted, then reported", async () => {
    const { publisher, calls, setFailing } = setup({ role: "order", "cloudwatch-max-pending": 50 }, {});
    setFailing(true);
    await publisher.tick(); // 14 points
    await publisher.tick(); // 28
    expect([publisher.waiting, publisher.dropped, calls.length]).toEqual([28, 0, 0]);
    await publisher.tick(); // 42
    await publisher.tick(); // 56 -> 50
    expect([publisher.waiting, publisher.dropped]).toEqual([50, 6]);
    setFailing(false);
    await publisher.tick(); // 50 + 14 + MetricsDropped x2 -> 66 -> 50, 16 more dropped
    expect(publisher.dropped).toBe(22);
    expect(publisher.waiting).toBe(0);
    expect(calls.map((c) => c.length)).toEqual([50]);
    // The report of the first 6 dropped made it (it is among the newest).
    expect(value(calls[0]!, "MetricsDropped", 0)).toEqual([["", 6]]);
  });
});
