// Double charges through the binary, on the SQLite and Cassandra stores: caught and dead-lettered, never overwritten.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import cassandra from "cassandra-driver";
import { allDeadLetters, runEcom, startEcom, tempDir } from "../helpers/ecom.ts";
import { SERVICES, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

const cassandraUp = await serviceAvailable("cassandra");
const keyspace = `ecom_dup_${Math.random().toString(36).slice(2, 10)}`;

const order = (id: number, price: number, quantity: number) => ({
  order_id: id, customer_id: 77, item: "Kettle", quantity, price, shipping_address: `${id} Birch Rd`, order_status: "pending",
  creation_date: "2026-04-01T09:00:00.000Z",
});
const payment = (id: number, orderId: number, status = "completed", last4 = "4242") => ({
  payment_id: id, order_id: orderId, payment_method: "credit_card", card_last_four: last4, payment_status: status,
  payment_datetime: "2026-04-01T09:00:30.000Z",
});

const stores: [string, string[], boolean][] = [
  ["sqlite", [], true],
  ["cassandra", ["--store=cassandra", `--cassandra-keyspace=${keyspace}`, `--cassandra-port=${SERVICES.cassandra.port}`, "--auto-migrate"], cassandraUp],
];

afterAll(async () => {
  if (!cassandraUp) return;
  const client = new cassandra.Client({ contactPoints: [SERVICES.cassandra.host], localDataCenter: "datacenter1", protocolOptions: { port: SERVICES.cassandra.port } });
  await client.connect();
  await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 60_000 }).finally(() => client.shutdown());
}, 120_000);

describe.each(stores)("double charges, --store=%s", (_name, storeArgs, available) => {
  test.skipIf(!available)("completed then completed: duplicate_charge; failed then completed: applied; the same payment twice: a duplicate", async () => {
    const dir = tempDir();
    const app = await startEcom(["--role=order,payment,dlq", `--data-dir=${dir}`, ...storeArgs]);
    try {
      const file = (name: string, rows: object[]) => {
        const path = join(tempDir("ecom-dup-files-"), name);
        writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
        return path;
      };
      const produce = async (path: string) => expect((await runEcom(["produce", "--from-file", path, `--data-dir=${dir}`])).code).toBe(0);
      await produce(file("orders.ndjson", [order(1, 19.99, 3), order(2, 5, 1), order(3, 7.5, 2)]));
      for (const id of [1, 2, 3]) await waitFor(`order ${id}`, async () => (await app.request(`/orders/${id}`)).ok, { timeoutMs: 30_000 });
      // In one file, so in this order on the payments topic.
      await produce(file("payments.ndjson", [
        payment(101, 1), payment(102, 1, "completed", "9999"),
        payment(201, 2, "failed"), payment(202, 2),
        payment(301, 3), payment(301, 3),
      ]));
      const counters = await waitFor("six payments consumed", async () => {
        const c = (await app.get("/status")).counters.payment;
        return c.received === 6 ? c : null;
      }, { timeoutMs: 60_000 });
      expect(counters).toMatchObject({ received: 6, processed: 5, matched: 4, duplicate_charges: 1, duplicates: 1, unmatched: 0, dead_lettered: 1, invalid: 0 });
      expect(await app.get("/orders/1")).toMatchObject({ payment_id: 101, card_last_four: "4242", payment_status: "completed" });
      expect(await app.get("/orders/2")).toMatchObject({ payment_id: 202, payment_status: "completed" });
      expect(await app.get("/orders/3")).toMatchObject({ payment_id: 301, payment_status: "completed" });

      const charges = await waitFor("the duplicate charge in /dlq", async () => {
        const items = await allDeadLetters(app);
        return items.length ? items : null;
      }, { timeoutMs: 30_000 });
      expect(charges.map((d) => [d.id, d.reason, d.status])).toEqual([["duplicate_charge.payment.102", "duplicate_charge", "pending"]]);
      expect(charges[0].details).toEqual([
        "order 1 already holds completed payment 101; payment 102 (completed) was recorded, not applied",
        "order amount 3 x 19.99 = 59.97: refund payment 102 if it was charged",
      ]);
      expect(JSON.parse(charges[0].original).data).toMatchObject({ payment_id: 102, order_id: 1, card_last_four: "9999" });
      expect(app.output()).toContain("order 1: 101 kept, 102 not applied");

      // Two completed payments overtake their order: both wait as unmatched; once the order exists the reconciler
      // applies one and turns the other into a duplicate charge.
      await produce(file("early.ndjson", [payment(401, 4), payment(402, 4, "completed", "0402")]));
      await waitFor("two unmatched", async () => (await app.get("/dlq?reason=unmatched_order")).total === 2, { timeoutMs: 30_000 });
      await produce(file("late-order.ndjson", [order(4, 100, 1)]));
      const dlq = await waitFor("reconciled", async () => {
        const c = (await app.get("/status")).counters.dlq;
        return c.reconciled === 1 ? c : null;
      }, { timeoutMs: 60_000 });
      expect(dlq).toMatchObject({ reconciled: 1, duplicates: 0 });
      // The pass counts before it marks the records: wait for the marks.
      await waitFor("both unmatched records settled", async () => (await app.get("/dlq?status=reconciled&reason=unmatched_order")).total === 2, { timeoutMs: 30_000 });
      const kept = (await app.get("/orders/4")).payment_id;
      expect([401, 402]).toContain(kept);
      const other = kept === 401 ? 402 : 401;
      const pending = (await allDeadLetters(app)).map((d) => [d.id, d.details[0]]).sort();
      expect(pending).toEqual([
        ["duplicate_charge.payment.102", "order 1 already holds completed payment 101; payment 102 (completed) was recorded, not applied"],
        [`duplicate_charge.payment.${other}`, `order 4 already holds completed payment ${kept}; payment ${other} (completed) was recorded, not applied`],
      ]);
      expect((await app.get("/status")).counters.dlq).toMatchObject({ reconciled: 1, pending: 2 });
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
  }, 180_000);
});
