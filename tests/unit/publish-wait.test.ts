// produce's wait for its records: progress while they are unpublished, the timeout, the abort of a publish in flight.
import { describe, expect, test } from "bun:test";
import { progressLine, relayUntilPublished, timeoutMessage, type WaitDeps, type WaitProgress } from "../../src/cli/publish-wait.ts";

/** A fake clock that sleep() advances, and a broker that takes `perStep` rows per drain once `upAt` has passed. */
function scene(opts: { total: number; perStep: number; upAt: number; error?: string; elsewhere?: boolean }) {
  let clock = 1_000_000;
  let pending = opts.total;
  const reports: WaitProgress[] = [];
  const drains: number[] = [];
  const deps: WaitDeps = {
    pending: () => pending,
    lastError: () => (clock - 1_000_000 < opts.upAt ? (opts.error ?? null) : null),
    relayedElsewhere: () => opts.elsewhere ?? false,
    drain: async () => {
      drains.push(clock - 1_000_000);
      if (clock - 1_000_000 < opts.upAt) return { claimed: Math.min(10, pending), sent: 0 };
      const sent = Math.min(opts.perStep, pending);
      pending -= sent;
      return { claimed: sent, sent };
    },
    report: (p) => reports.push(p),
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
  };
  return { deps, reports, drains, pending: () => pending, elapsed: () => clock - 1_000_000 };
}

describe("relayUntilPublished", () => {
  test("a broker that answers at once: done, nothing reported", async () => {
    const s = scene({ total: 25, perStep: 10, upAt: 0 });
    expect(await relayUntilPublished(s.deps, { total: 25, timeoutMs: 10_000, reportEveryMs: 3_000 })).toEqual({ published: true, lastError: null });
    expect(s.reports).toEqual([]);
    expect(s.drains).toEqual([0, 0, 0]);
  });

  test("a broker that never answers: a report every interval naming the last error, then false at the timeout", async () => {
    const s = scene({ total: 7, perStep: 10, upAt: Infinity, error: "SNS PublishBatch: TimeoutError" });
    expect(await relayUntilPublished(s.deps, { total: 7, timeoutMs: 10_000, reportEveryMs: 3_000 })).toEqual({ published: false, lastError: "SNS PublishBatch: TimeoutError" });
    expect(s.reports).toEqual([3_000, 6_000, 9_000].map((elapsedMs) => ({ pending: 7, total: 7, elapsedMs, lastError: "SNS PublishBatch: TimeoutError", relayedElsewhere: false })));
    expect(s.elapsed()).toBe(10_000);
    expect(s.pending()).toBe(7);
  });

  test("a broker that comes back before the timeout: reports until then, then done", async () => {
    const s = scene({ total: 30, perStep: 10, upAt: 7_000, error: "connect ECONNREFUSED" });
    expect((await relayUntilPublished(s.deps, { total: 30, timeoutMs: 60_000, reportEveryMs: 3_000 })).published).toBe(true);
    expect(s.reports.map((r) => [r.elapsedMs, r.pending, r.lastError])).toEqual([[3_000, 30, "connect ECONNREFUSED"], [6_000, 30, "connect ECONNREFUSED"]]);
    expect(s.pending()).toBe(0);
  });

  test("timeout 0 waits as long as it takes", async () => {
    const s = scene({ total: 5, perStep: 5, upAt: 3_600_000 });
    expect((await relayUntilPublished(s.deps, { total: 5, timeoutMs: 0, reportEveryMs: 600_000 })).published).toBe(true);
    expect(s.reports.map((r) => r.elapsedMs)).toEqual([600_000, 1_200_000, 1_800_000, 2_400_000, 3_000_000, 3_600_000]);
  });

  test("a publish still in flight at the deadline is aborted there; the error reported is the one before the abort", async () => {
    let signal: AbortSignal | undefined;
    let recorded: string | null = "SNS PublishBatch: TimeoutError: 35000 ms";
    const started = Date.now();
    const done = await relayUntilPublished(
      {
        pending: () => 3,
        lastError: () => recorded,
        relayedElsewhere: () => false,
        // A broker that never answers: the call ends only when its signal aborts.
        drain: (s) => new Promise((resolve) => {
          signal = s;
          s.addEventListener("abort", () => {
            // As the relay does: the aborted publish is released with its own error.
            recorded = "AbortError: Request aborted";
            resolve({ claimed: 3, sent: 0 });
          });
        }),
        report: () => {},
      },
      { total: 3, timeoutMs: 150, reportEveryMs: 60_000 },
    );
    expect(done).toEqual({ published: false, lastError: "SNS PublishBatch: TimeoutError: 35000 ms" });
    expect(signal?.aborted).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("what produce says", () => {
  test("the progress line names the broker, the count, the wait and the last error", () => {
    const p = { pending: 4210, total: 6200, elapsedMs: 12_400, lastError: "SNS PublishBatch to arn:x: TimeoutError: timed out", relayedElsewhere: false };
    expect(progressLine(p, "SNS+SQS at http://127.0.0.1:5000")).toBe(
      "produce: 4,210 of 6,200 messages not yet published to SNS+SQS at http://127.0.0.1:5000 after 12 s; last error: SNS PublishBatch to arn:x: TimeoutError: timed out",
    );
    expect(progressLine({ ...p, pending: 1, total: 1, lastError: null, relayedElsewhere: true }, "Pub/Sub project p")).toBe(
      "produce: 1 of 1 message not yet published to Pub/Sub project p after 12 s; another ecom process on this data dir holds the relay and is publishing them",
    );
  });

  test("the timeout message says what is left, where, and who relays it", () => {
    const text = timeoutMessage({ pending: 12, total: 40, byKind: "7 orders, 5 payments", broker: "SNS+SQS at http://h:1", dataDir: "./data", timeout: "5m", lastError: "connect ECONNREFUSED" });
    expect(text).toBe(
      "produce: gave up waiting after 5m (--publish-timeout) with 12 of 40 messages (7 orders, 5 payments) still in the outbox of ./data, " +
        "not yet published to SNS+SQS at http://h:1 (last error: connect ECONNREFUSED). They are not lost: any ecom process on the same data dir " +
        "(--data-dir=./data) relays them once the broker answers; running produce again would add the file a second time.",
    );
  });
});
