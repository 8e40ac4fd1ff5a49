// The terminal's line of totals, and per-order lines' default following whether stdout is a terminal.
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { totalsLine } from "../../src/totals.ts";

describe("totalsLine", () => {
  test("per role its count and rate, matched payments, what went wrong; dead letters, outbox, latency", () => {
    const line = totalsLine({
      t: Date.parse("2026-12-02T16:18:45.123Z"),
      roles: ["producer", "order", "payment", "dlq"],
      counters: {
        producer: { processed: 12345, received: 0 },
        order: { received: 6170, invalid: 2, failed: 0 },
        payment: { received: 6100, matched: 5800, failed: 3 },
        dlq: { received: 30 },
      },
      rates: { producer: 5, order: 2.46, payment: null, dlq: 0 },
      outbox: { pending: 7, sent: 12338 },
      latency_ms: { p50: 8.4, p99: 1250, count: 10 },
    }, 12);
    expect(line).toBe("16:18:45  producer 12,345 (5.0/s)  order 6,170 (2.5/s) invalid 2  payment 6,100 matched 5,800 failed 3  dlq 30 (0.0/s)  dead letters pending 12  outbox 7  p50 8 ms p99 1.3 s");
  });

  test("no dead-letter count when the store did not answer, no latency before any", () => {
    const line = totalsLine({ t: 0, roles: ["producer"], counters: { producer: {} }, rates: { producer: null }, outbox: { pending: 0, sent: 0 }, latency_ms: { p50: null, p99: null, count: 0 } }, null);
    expect(line).toBe("00:00:00  producer 0  outbox 0  p50 - p99 -");
  });
});

describe("--log-orders default", () => {
  const load = (tty: boolean, flags: Record<string, unknown> = {}) => loadConfig({ flags, env: {}, tty });
  test("on off a terminal, off on one unless set", () => {
    expect([load(false).logOrders, load(true).logOrders]).toEqual([true, false]);
    expect([load(true, { "log-orders": true }).logOrders, load(false, { "log-orders": "false" }).logOrders]).toEqual([true, false]);
    expect([load(true).totalsIntervalMs, load(true, { "totals-interval": "0" }).totalsIntervalMs]).toEqual([5000, 0]);
  });
});
