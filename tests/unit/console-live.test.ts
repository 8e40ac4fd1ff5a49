// The console's live view: the ring buffer's bound, rates from counter growth, and the slow reads only while a page is open.
import { describe, expect, test } from "bun:test";
import { LiveStatus, Ring, type StatusLike } from "../../src/console/live.ts";
import { silentLogger } from "../../src/log.ts";

describe("Ring", () => {
  test("keeps the newest `capacity` items, oldest first, whatever was pushed", () => {
    const ring = new Ring<number>(3);
    expect(ring.toArray()).toEqual([]);
    for (let i = 1; i <= 7; i++) ring.push(i);
    expect(ring.length).toBe(3);
    expect(ring.toArray()).toEqual([5, 6, 7]);
    expect([ring.at(0), ring.at(2), ring.at(3)]).toEqual([7, 5, undefined]);
  });
});

function fixture() {
  let now = 1_000_000;
  let produced = 0;
  let received = 0;
  const calls = { readiness: 0, pending: 0 };
  let latency = { p50: null as number | null, p99: null as number | null, count: 0 };
  const live = new LiveStatus({
    status: async (pending): Promise<StatusLike> => ({
      roles: ["producer", "order", "dlq"],
      counters: { producer: { processed: produced }, order: { received }, dlq: { received: 0, pending: await pending() } },
      outbox: { pending: 3, sent: produced },
    }),
    pendingDeadLetters: async () => (calls.pending++, 42),
    readiness: async () => (calls.readiness++, { ready: true, transport: "ok", store: "ok" }),
    metrics: { takeRecent: () => latency },
    log: silentLogger,
    intervalMs: 1000,
    keepMs: 10_000,
    slowMs: 5000,
    clock: () => now,
  });
  return {
    live,
    calls,
    step(ms: number, p = 0, r = 0) {
      now += ms;
      produced += p;
      received += r;
    },
    latency(l: typeof latency) {
      latency = l;
    },
  };
}

describe("LiveStatus", () => {
  test("rates per role over the last five samples; history bounded to keepMs", async () => {
    const f = fixture();
    const first = await f.live.tick();
    expect(first!.rates).toEqual({ producer: null, order: null, dlq: null });
    for (let i = 0; i < 14; i++) {
      f.step(1000, 10, 4);
      await f.live.tick();
    }
    const s = f.live.newest!;
    // 10/s and 4/s, the counters of GET /status and the outbox unchanged.
    expect(s.rates).toEqual({ producer: 10, order: 4, dlq: 0 });
    expect(s.counters.producer).toEqual({ processed: 140 });
    expect(s.outbox).toEqual({ pending: 3, sent: 140 });
    const h = f.live.history();
    expect(h.t.length).toBe(10);
    expect(h.rates.producer).toEqual(Array(10).fill(10));
    expect(h.t[9]! - h.t[0]!).toBe(9);
  });

  test("a counter that went down gives no negative rate", async () => {
    const f = fixture();
    f.step(0, 100, 100);
    await f.live.tick();
    f.step(1000, -100, -100);
    expect((await f.live.tick())!.rates).toEqual({ producer: 0, order: 0, dlq: 0 });
  });

  test("latency quantiles of the last window; an idle window keeps the last known ones", async () => {
    const f = fixture();
    f.latency({ p50: 12, p99: 80, count: 30 });
    expect((await f.live.tick())!.latency_ms).toEqual({ p50: 12, p99: 80, count: 30 });
    f.latency({ p50: null, p99: null, count: 0 });
    f.step(1000);
    expect((await f.live.tick())!.latency_ms).toEqual({ p50: 12, p99: 80, count: 0 });
  });

  test("readiness and pending dead letters are read only while someone listens, at most every slowMs", async () => {
    const f = fixture();
    for (let i = 0; i < 10; i++) {
      f.step(1000);
      await f.live.tick();
    }
    expect(f.calls).toEqual({ readiness: 0, pending: 0 });
    const seen: number[] = [];
    const unsubscribe = f.live.subscribe((s) => seen.push(s.t));
    const current = await f.live.current();
    expect(current.ready).toMatchObject({ ready: true, transport: "ok", store: "ok" });
    expect(current.counters.dlq!.pending).toBe(42);
    expect(f.calls).toEqual({ readiness: 1, pending: 1 });
    for (let i = 0; i < 10; i++) {
      f.step(1000);
      await f.live.tick();
    }
    expect(seen.length).toBe(10);
    // 10 s with a listener, a read every 5 s.
    expect(f.calls).toEqual({ readiness: 3, pending: 3 });
    unsubscribe();
    for (let i = 0; i < 10; i++) {
      f.step(1000);
      await f.live.tick();
    }
    expect(seen.length).toBe(10);
    expect(f.calls).toEqual({ readiness: 3, pending: 3 });
  });
});
