// Issue 20's scenario, smaller: a batch produce over SNS+SQS (moto) while the consumer process is kill -9'd 3 times.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { UNMATCHED_ORDER_BASE, orderAt, paymentAt } from "../../src/domain/generator.ts";
import { allDeadLetters, BINARY, freePort, runEcom, spawnCaptured, tempDir, type Running } from "../helpers/ecom.ts";
import { moto, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const cassandraUp = await serviceAvailable("cassandra");
const motoUp = await serviceAvailable("moto");

const ORDERS = 150;
const UNMATCHED = 5;
const DUPLICATES = 5;
const SEED = 20;
const keyspaces: string[] = [];
const procs: { kill9(): Promise<void> }[] = [];

afterAll(async () => {
  for (const p of procs) await p.kill9().catch(() => {});
  if (!cassandraUp || keyspaces.length === 0) return;
  const { Client } = await import("cassandra-driver");
  const client = new Client({ contactPoints: ["127.0.0.1"], localDataCenter: "datacenter1" });
  for (const ks of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`).catch(() => {});
  await client.shutdown();
}, 120_000);

const gen = { seed: SEED, unmatchedRatio: 0, duplicateRatio: 0 };
const paymentOf = (i: number) => ({ ...paymentAt(gen, i), payment_status: "completed" });

/** Orders 1..150 each followed by its payment (the first 5 payments twice), then 5 payments for orders never sent. */
function batch(): string {
  const lines: string[] = [];
  for (let i = 1; i <= ORDERS; i++) {
    lines.push(JSON.stringify(orderAt(SEED, i)), JSON.stringify(paymentOf(i)));
    if (i <= DUPLICATES) lines.push(JSON.stringify(paymentOf(i)));
  }
  for (let j = ORDERS + 1; j <= ORDERS + UNMATCHED; j++) lines.push(JSON.stringify({ ...paymentOf(j), order_id: UNMATCHED_ORDER_BASE + j }));
  return lines.join("\n") + "\n";
}

describe.skipIf(!cassandraUp || !motoUp)("SNS+SQS + Cassandra: produce while the consumers are killed", () => {
  test("kill -9 and restart 3 times in the first seconds: produce returns, each order and matched payment stored once, exactly the unmatched in /dlq", async () => {
    const id = `k${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`;
    const keyspace = `ecom_k_${id}`;
    keyspaces.push(keyspace);
    const flags = [
      "--transport=sns-sqs", `--aws-endpoint=${moto.endpoint}`, "--store=cassandra", `--cassandra-keyspace=${keyspace}`,
      // Messages a killed consumer held come back after the visibility timeout: 6 s rather than the default 30 s.
      "--sqs-visibility-timeout=6",
      `--sns-orders-topic=${id}_orders`, `--sns-payments-topic=${id}_payments`, `--sns-dlq-topic=${id}_dlq`, `--sns-alerts-topic=${id}_alerts`,
      `--sqs-order-queue=${id}_order_q`, `--sqs-analytics-queue=${id}_analytics_q`, `--sqs-payment-queue=${id}_payment_q`, `--sqs-dlq-queue=${id}_dlq_q`,
    ];
    const dir = tempDir();
    const provision = await runEcom(["provision", ...flags, `--data-dir=${dir}`]);
    expect(provision.code).toBe(0);
    const file = join(tempDir("ecom-kills-"), "batch.ndjson");
    writeFileSync(file, batch());

    const port = await freePort();
    // Payments that overtook their order while its consumer was being killed are retried by the dlq role: at most
    // every 2 s here (the default doubles to 60 s, which only makes the test wait).
    const consumerArgs = ["--role=order,payment,analytics,dlq", ...flags, `--data-dir=${dir}`, `--port=${port}`, "--log-level=warn", "--log-orders=false", "--dlq-retry-max=2s"];
    const started = Date.now();
    let consumer = spawnCaptured([BINARY, ...consumerArgs]);
    procs.push(consumer);
    const produce = spawnCaptured([BINARY, "produce", "--from-file", file, ...flags, `--data-dir=${dir}`, "--publish-timeout=3m"]);
    procs.push(produce);
    const healthy = () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    for (let k = 0; k < 3; k++) {
      await waitFor(`consumer ${k + 1} up`, healthy, { timeoutMs: 60_000 });
      // Up and polling for a moment, then gone without a word (its long polls stay open on moto).
      await Bun.sleep(1000);
      await consumer.kill9();
      consumer = spawnCaptured([BINARY, ...consumerArgs]);
      procs.push(consumer);
    }
    expect(await produce.proc.exited).toBe(0);
    await produce.pumped;
    const produced = (Date.now() - started) / 1000;
    expect(produce.output()).toBe(`took ${ORDERS} orders and ${ORDERS + UNMATCHED + DUPLICATES} payments\n`);

    await waitFor("the consumer of the data dir up", healthy, { timeoutMs: 60_000 });
    const url = `http://127.0.0.1:${port}`;
    // The last consumer's API, for the helpers that read it.
    const app = {
      request: (path: string, init?: RequestInit) => fetch(url + path, init),
      async get(path: string) {
        const res = await fetch(url + path);
        if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
        return res.json();
      },
    } as unknown as Running;
    const status = () => fetch(`http://127.0.0.1:${port}/status`).then((r) => r.json() as Promise<any>);
    await waitFor("every order, matched payment and unmatched dead letter handled", async () => {
      const c = (await status()).counters;
      return c.order.processed === ORDERS && c.analytics.processed === ORDERS && c.payment.matched + c.dlq.reconciled === ORDERS && c.dlq.pending === UNMATCHED;
    }, { timeoutMs: 180_000, intervalMs: 500 }).catch(async (e) => {
      // Which dead letters are pending, with their reason and attempts: says whether extras are broker redrives.
      const pending = await allDeadLetters(app, "pending").then((d) => d.map((x) => `${x.id} ${x.reason} ${x.attempts}`), String);
      const state = JSON.stringify(await status().catch(() => null));
      throw new Error(`${e}\n/status ${state}\npending: ${JSON.stringify(pending)}\nconsumer output: ${consumer.output().slice(-4000)}`);
    });
    const settled = (Date.now() - started) / 1000;
    console.log(`sns-kills e2e: produce returned after ${produced.toFixed(1)} s, settled after ${settled.toFixed(1)} s`);

    const c = (await status()).counters;
    // Exactly once: each order's effect counted once; the file's duplicate payments (and any redelivery) as duplicates.
    expect([c.order.processed, c.analytics.processed, c.order.invalid, c.payment.invalid]).toEqual([ORDERS, ORDERS, 0, 0]);
    expect(c.payment.duplicates).toBeGreaterThanOrEqual(DUPLICATES);
    expect(c.payment.matched + c.dlq.reconciled).toBe(ORDERS);
    for (let i = 1; i <= ORDERS; i++) {
      const p = paymentOf(i);
      expect(await app.get(`/orders/${i}`)).toEqual({ ...orderAt(SEED, i), payment_id: p.payment_id, payment_method: p.payment_method, card_last_four: p.card_last_four, payment_status: "completed", payment_datetime: p.payment_datetime });
    }
    expect((await app.request(`/orders/${ORDERS + 1}`)).status).toBe(404);
    const pending = await allDeadLetters(app, "pending");
    expect(pending.map((d) => `${d.id} ${d.reason}`).sort()).toEqual(
      Array.from({ length: UNMATCHED }, (_, k) => `unmatched_order.payment.${ORDERS + 1 + k} unmatched_order`).sort(),
    );
    consumer.proc.kill("SIGTERM");
    expect(await consumer.proc.exited).toBe(0);
  }, 420_000);
});
