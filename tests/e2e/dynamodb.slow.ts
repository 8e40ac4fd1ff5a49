// The long DynamoDB scenarios (npm run test:dynamodb; minutes on moto, so not in npm test): 5,000 orders on the
// local queue, kill -9 and restart, SNS+SQS with a consumer killed, DynamoDB unreachable for 10 s; every item of
// every table checked through the SDK.
import { describe, expect, test } from "bun:test";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { expectNoFailures, SEED, expected, prefix, run, storeArgs, uid, verifyApi, verifyDynamoTables } from "../helpers/dynamodb.ts";
import { startProxy } from "../helpers/proxy.ts";
import { moto, SERVICES, serviceAvailable } from "../helpers/services.ts";
import { waitForCompletion } from "../helpers/verify.ts";
import { waitFor } from "../helpers/wait.ts";

const available = await serviceAvailable("moto");

const N = 5000;
const exp = expected(N);
/** moto, one Python thread, took 15 s for a 288-item listing on the 2-core machine at load ~30: room for that. */
const SLOW = "--dynamodb-request-timeout=30s";

describe.skipIf(!available)("--store=dynamodb scenarios on moto", () => {
  test(`--role=all on the local queue, ${N} orders: every item of every table exactly (SDK), and the same through the API`, async () => {
    const p = prefix();
    const app = await startEcom(["--role=all", ...run(N), ...storeArgs(p), SLOW, "--auto-migrate", `--data-dir=${tempDir()}`]);
    try {
      await waitForCompletion(app, exp, 480_000);
      const status = await verifyApi(app, exp, SEED);
      expect(status.store).toBe("dynamodb");
      expect(status.counters.producer).toMatchObject({ orders: N, payments: N, duplicates: exp.duplicatedOrders + exp.duplicatedPayments });
      expectNoFailures(status.counters);
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
    const { reconciledRecords } = await verifyDynamoTables(p, exp, SEED);
    console.info(`dynamodb e2e: ${N} orders, ${exp.matched.length} matched, ${exp.unmatchedIds.length} unmatched; ${reconciledRecords} reconciled after overtaking their order`);
  }, 600_000);

  const K = 2000;
  const kexp = expected(K);

  test(`kill -9 at three points and restart (${K} orders): the same totals and items, nothing applied twice`, async () => {
    const p = prefix();
    const args = ["--role=all", ...run(K), ...storeArgs(p), SLOW, "--auto-migrate", `--data-dir=${tempDir()}`, "--visibility-timeout=2s"];
    const killPoints: ((s: any) => boolean)[] = [
      (s) => s.counters.producer.orders >= 400,
      (s) => s.counters.order.processed >= 1000,
      (s) => s.counters.payment.matched + s.counters.dlq.reconciled >= 1200,
    ];
    for (const point of killPoints) {
      const app = await startEcom(args);
      await waitFor("kill point", async () => point(await app.get("/status")), { timeoutMs: 240_000, intervalMs: 50 });
      await app.kill9();
    }
    const app = await startEcom(args);
    try {
      await waitForCompletion(app, kexp, 480_000);
      const status = await verifyApi(app, kexp, SEED, { redeliveries: true });
      expect(status.counters.producer).toMatchObject({ orders: K, payments: K });
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
    await verifyDynamoTables(p, kexp, SEED);
  }, 600_000);

  test("DynamoDB unreachable for 10 s mid-run: /readyz 503 naming the store, consumers hold and back off, then finish", async () => {
    const O = 1000;
    const oexp = expected(O);
    const p = prefix();
    const dir = tempDir();
    expect((await runEcom(["migrate", ...storeArgs(p), `--data-dir=${dir}`])).code).toBe(0);
    const proxy = await startProxy(SERVICES.moto.port);
    const app = await startEcom(["--role=all", ...run(O, 100), ...storeArgs(p, `http://127.0.0.1:${proxy.port}`), "--dynamodb-request-timeout=2s", `--data-dir=${dir}`]);
    let polls = 0;
    try {
      await waitFor("the first orders stored", async () => (await app.get("/status")).counters.order.processed >= 200, { timeoutMs: 120_000, intervalMs: 50 });
      await proxy.cut();
      const downAt = Date.now();
      try {
        await waitFor("/readyz to answer 503", async () => (await app.request("/readyz")).status === 503, { timeoutMs: 15_000, intervalMs: 100 });
        // writes in flight at the cut give up within the store's 2 s budget; from then on nothing is acknowledged
        const handledNow = async () => {
          const c = (await app.get("/status")).counters;
          return ["order", "payment", "dlq"].map((r) => `${r} ${c[r].received}`);
        };
        let [last, since] = ["", Date.now()];
        await waitFor("the consumers to hold (nothing acknowledged for 1.5 s)", async () => {
          const now = JSON.stringify(await handledNow());
          if (now !== last) [last, since] = [now, Date.now()];
          return Date.now() - since >= 1500;
        }, { timeoutMs: 9000, intervalMs: 100 });
        let heldAt: string[] = [];
        while (Date.now() - downAt < 10_000) {
          const ready = await app.request("/readyz");
          expect([ready.status, (await ready.json()).store]).toEqual([503, expect.stringMatching(/^unavailable: /)]);
          const status = await app.get("/status");
          expectNoFailures(status.counters);
          const handled = ["order", "payment", "dlq"].map((r) => `${r} ${status.counters[r].received}`);
          if (polls === 0) heldAt = handled;
          expect(handled).toEqual(heldAt);
          polls++;
          await Bun.sleep(250);
        }
      } finally {
        await proxy.restore();
      }
      await waitFor("/readyz to answer 200", async () => (await app.request("/readyz")).status === 200, { timeoutMs: 60_000, intervalMs: 250 });
      await waitForCompletion(app, oexp, 480_000);
      await verifyApi(app, oexp, SEED);
      expectNoFailures((await app.get("/status")).counters);
      expect(app.output()).toContain("store unavailable; holding messages and backing off");
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
      await proxy.close();
    }
    expect(polls).toBeGreaterThanOrEqual(5);
    await verifyDynamoTables(p, oexp, SEED);
  }, 600_000);
});

describe.skipIf(!available)("--store=dynamodb over SNS+SQS, on moto", () => {
  // moto's SQS serves a few hundred messages/s on a loaded machine and each order fans out to two queues: a smaller run.
  const S = 500;
  const sexp = expected(S);
  const snsArgs = (id: string) => [
    "--transport=sns-sqs",
    `--aws-endpoint=${moto.endpoint}`,
    "--sqs-wait-time=1",
    "--sqs-visibility-timeout=10",
    `--sns-orders-topic=${id}_orders`,
    `--sns-payments-topic=${id}_payments`,
    `--sns-dlq-topic=${id}_dlq`,
    `--sns-alerts-topic=${id}_alerts`,
    `--sqs-order-queue=${id}_order_q`,
    `--sqs-analytics-queue=${id}_analytics_q`,
    `--sqs-payment-queue=${id}_payment_q`,
    `--sqs-dlq-queue=${id}_dlq_q`,
  ];

  test(`${S} orders through SNS+SQS into DynamoDB, the consumers killed -9 once mid-run: the same items, nothing applied twice`, async () => {
    const id = uid();
    const p = prefix();
    const dir = tempDir();
    const provision = await runEcom(["provision", ...snsArgs(id), ...storeArgs(p), `--data-dir=${dir}`]);
    expect([provision.code, provision.stderr]).toEqual([0, ""]);
    const producer = await startEcom(["--role=producer", ...run(S, 200), ...snsArgs(id), ...storeArgs(p), `--data-dir=${tempDir()}`]);
    const consumerArgs = ["--role=order,payment,analytics,dlq", ...snsArgs(id), ...storeArgs(p), SLOW, `--data-dir=${dir}`];
    try {
      const first = await startEcom(consumerArgs);
      try {
        await waitFor("some payments stored", async () => (await first.get("/status")).counters.payment.matched >= 100, { timeoutMs: 120_000, intervalMs: 50 });
      } finally {
        await first.kill9();
      }
      const app = await startEcom(consumerArgs);
      try {
        // the producer's counters live in its own data dir: the consumers' view plus its own
        const view: Running = {
          ...app,
          async get(path: string) {
            if (path !== "/status") return app.get(path);
            const [a, b] = await Promise.all([app.get("/status"), producer.get("/status")]);
            return { ...a, outbox: { pending: a.outbox.pending + b.outbox.pending, sent: a.outbox.sent + b.outbox.sent }, counters: { ...a.counters, producer: b.counters.producer } };
          },
        };
        await waitForCompletion(view, sexp, 480_000);
        const status = await verifyApi(view, sexp, SEED, { redeliveries: true });
        expect(status.transport).toBe("sns-sqs");
        expect(await app.stop()).toBe(0);
      } finally {
        app.proc.kill("SIGKILL");
      }
    } finally {
      producer.proc.kill("SIGKILL");
    }
    await verifyDynamoTables(p, sexp, SEED);
  }, 600_000);
});
