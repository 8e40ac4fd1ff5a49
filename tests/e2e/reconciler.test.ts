// Two dlq processes on one data dir: the reconciler lease lets exactly one apply each due dead letter.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { waitFor } from "../helpers/wait.ts";

const N = 3000;
const TAKEN = "reconciler lease taken";

const order = (id: number) => ({
  order_id: id, customer_id: 40 + (id % 7), item: "Lamp", quantity: 1, price: 35, shipping_address: `${id} Elm St`,
  order_status: "pending", creation_date: "2026-03-01T10:00:00.000Z",
});
const payment = (orderId: number) => ({
  payment_id: 90_000 + orderId, order_id: orderId, payment_method: "credit_card", card_last_four: "4242",
  payment_status: "completed", payment_datetime: "2026-03-01T10:00:05.000Z",
});
const ndjson = (dir: string, name: string, rows: object[]) => {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return path;
};
const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("reconciliation on a shared data dir", () => {
  test("two dlq processes: each due record applied by exactly one; the survivor takes over after a kill -9", async () => {
    const dir = tempDir();
    const files = tempDir("ecom-reconcile-files-");
    const common = [`--data-dir=${dir}`, "--dlq-retry-base=200ms", "--dlq-retry-max=1s", "--log-level=info"];
    const consumers = await startEcom(["--role=order,payment", ...common]);
    const first = await startEcom(["--role=dlq", ...common]);
    let second: Running | undefined;
    try {
      await waitFor("the first dlq process to take the lease", () => first.output().includes(TAKEN), { timeoutMs: 30_000 });
      second = await startEcom(["--role=dlq", ...common]);
      const produce = async (name: string, rows: object[]) => {
        const run = await runEcom(["produce", "--from-file", ndjson(files, name, rows), `--data-dir=${dir}`]);
        expect(run.code).toBe(0);
      };
      const dlq = async (app: Running) => (await app.get("/status")).counters.dlq;

      // Every payment overtakes its order: all N become unmatched_order dead letters, retried every second.
      await produce("payments.ndjson", ids(1, N).map(payment));
      await waitFor(`${N} dead letters pending`, async () => (await dlq(second!)).pending === N, { timeoutMs: 60_000, intervalMs: 200 });

      // Half the orders arrive while both dlq processes run: only the lease holder reconciles.
      await produce("orders-1.ndjson", ids(1, N / 2).map(order));
      await waitFor(`${N / 2} reconciled`, async () => (await dlq(second!)).reconciled === N / 2, { timeoutMs: 60_000, intervalMs: 200 });
      expect(await dlq(second)).toMatchObject({ reconciled: N / 2, duplicates: 0, pending: N / 2 });
      expect(second.output()).not.toContain(TAKEN);

      // The holder dies without releasing: the other takes the lease once it runs out and reconciles the rest.
      await first.kill9();
      await produce("orders-2.ndjson", ids(N / 2 + 1, N).map(order));
      await waitFor(`all ${N} reconciled`, async () => (await dlq(second!)).reconciled === N, { timeoutMs: 90_000, intervalMs: 250 });
      expect(await dlq(second)).toMatchObject({ reconciled: N, duplicates: 0, pending: 0 });
      expect(second.output().split(TAKEN).length - 1).toBe(1);
      for (const id of [1, N / 2, N / 2 + 1, N]) {
        const fact = await consumers.get(`/orders/${id}`);
        expect(fact).toMatchObject({ order_id: id, payment_id: 90_000 + id, payment_status: "completed" });
      }
      const page = await second.get(`/dlq?status=reconciled&limit=1000`);
      expect(page.total).toBe(N);
      expect(await second.stop()).toBe(0);
      expect(await consumers.stop()).toBe(0);
    } finally {
      for (const p of [consumers, first, second]) p?.proc.kill("SIGKILL");
    }
  }, 300_000);
});
