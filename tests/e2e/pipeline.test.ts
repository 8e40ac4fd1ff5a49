// End to end on embedded defaults, driving the compiled binary: the seeded run, crashes, several processes.
import { describe, expect, test } from "bun:test";
import { expectedRun } from "../helpers/expected.ts";
import { startEcom, tempDir } from "../helpers/ecom.ts";
import { verifyFinal, waitForCompletion } from "../helpers/verify.ts";
import { waitFor } from "../helpers/wait.ts";

const SEED = 7;
const RUN = ["--orders=5000", "--payments=5000", "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", "--rate=0", `--seed=${SEED}`];
const exp = expectedRun({ seed: SEED, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, 5000, 5000);

describe("embedded pipeline, end to end", () => {
  test("the seeded expectation is not trivial", () => {
    expect(exp.unmatchedIds.length).toBeGreaterThan(150);
    expect(exp.duplicatedOrders).toBeGreaterThan(50);
    expect(exp.duplicatedPayments).toBeGreaterThan(50);
  });

  test("--role=all: every order stored, matched payments applied once, exactly the unmatched in /dlq", async () => {
    const app = await startEcom(["--role=all", ...RUN, `--data-dir=${tempDir()}`]);
    try {
      await waitForCompletion(app, exp);
      const status = await verifyFinal(app, exp, SEED);
      expect(status.counters.producer).toMatchObject({ orders: 5000, payments: 5000, duplicates: exp.duplicatedOrders + exp.duplicatedPayments });
      expect(status.counters.payment.received).toBe(5000 + exp.duplicatedPayments);
      expect(status.counters.order.received).toBe(5000 + exp.duplicatedOrders);
      const analytics = await app.get("/analytics");
      expect(analytics.orders).toBe(5000);
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
  }, 240_000);

  test("kill -9 at several points and restart: the same totals, nothing lost, nothing applied twice", async () => {
    const dir = tempDir();
    const args = ["--role=all", ...RUN, `--data-dir=${dir}`, "--visibility-timeout=2s"];
    const killPoints: ((s: any) => boolean)[] = [
      (s) => s.counters.producer.orders >= 1000,
      (s) => s.counters.order.processed >= 2500,
      (s) => s.counters.payment.matched >= 4000,
    ];
    for (const point of killPoints) {
      const app = await startEcom(args);
      await waitFor("kill point", async () => point(await app.get("/status")), { timeoutMs: 60_000, intervalMs: 20 });
      await app.kill9();
    }
    const app = await startEcom(args);
    try {
      await waitForCompletion(app, exp);
      await verifyFinal(app, exp, SEED);
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
  }, 240_000);

  test("order, payment and producer in separate processes on one data dir: the same totals", async () => {
    const dir = tempDir();
    const common = [`--data-dir=${dir}`, "--visibility-timeout=5s"];
    const orders = await startEcom(["--role=order,analytics", ...common]);
    const payments = await startEcom(["--role=payment,dlq", ...common]);
    const producer = await startEcom(["--role=producer", ...RUN, ...common]);
    try {
      await waitFor("producer done", async () => (await producer.get("/status")).counters.producer.payments === 5000, { timeoutMs: 60_000 });
      await waitFor("all consumed", async () => {
        const o = (await orders.get("/status")).counters;
        const p = (await payments.get("/status")).counters;
        return o.order.processed === 5000 && o.analytics.processed === 5000 && p.payment.matched + p.dlq.reconciled === exp.matched.length && p.dlq.pending === exp.unmatchedIds.length;
      }, { timeoutMs: 120_000, intervalMs: 250 });
      // Any process answers for the shared data dir; check through the one running every consumer... pieced together:
      const o = (await orders.get("/status")).counters;
      expect(o.order.duplicates).toBe(exp.duplicatedOrders);
      expect(o.analytics.duplicates).toBe(exp.duplicatedOrders);
      const all = await startEcom(["--role=dlq", ...common]);
      try {
        const st = await all.get("/status");
        expect(st.counters.dlq.pending).toBe(exp.unmatchedIds.length);
      } finally {
        expect(await all.stop()).toBe(0);
      }
      for (const p of [producer, orders, payments]) expect(await p.stop("SIGINT")).toBe(0);
    } finally {
      for (const p of [producer, orders, payments]) p.proc.kill("SIGKILL");
    }
  }, 240_000);
});
