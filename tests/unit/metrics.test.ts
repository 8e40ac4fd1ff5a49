import { expect, test } from "bun:test";
import { Metrics } from "../../src/metrics.ts";

test("produce→store latency: per-role histogram counts and sums, and the percentile reservoir", async () => {
  const m = new Metrics();
  for (const ms of [3, 40, 700]) m.observeLatency("order", ms);
  m.observeLatency("payment", 20);
  const text = await m.registry.metrics();
  expect(text).toContain('ecom_produce_to_store_seconds_count{role="order"} 3\n');
  expect(text).toContain('ecom_produce_to_store_seconds_bucket{le="0.005",role="order"} 1\n');
  expect(text).toContain('ecom_produce_to_store_seconds_bucket{le="0.05",role="order"} 2\n');
  expect(text).toContain('ecom_produce_to_store_seconds_sum{role="order"} 0.743\n');
  expect(text).toContain('ecom_produce_to_store_seconds_count{role="payment"} 1\n');
  expect(m.percentile(50)).toBe(40);
  expect(m.percentile(99)).toBe(700);
});
