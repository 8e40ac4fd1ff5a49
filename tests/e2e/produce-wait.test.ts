// `ecom produce` against a broker that does not answer: progress lines, --publish-timeout, and the outbox relayed later.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDb } from "../../src/db/open.ts";
import { orderAt, paymentAt } from "../../src/domain/generator.ts";
import { runEcom, spawnCaptured, BINARY, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { startProxy, type Proxy } from "../helpers/proxy.ts";
import { SERVICES, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const motoUp = await serviceAvailable("moto");

const proxies: Proxy[] = [];
const apps: Running[] = [];
afterAll(async () => {
  for (const app of apps) app.proc.kill("SIGKILL");
  for (const p of proxies) await p.close();
});

describe.skipIf(!motoUp)("produce --from-file while SNS+SQS does not answer", () => {
  test("logs every 10 s naming the broker and the error, exits 1 at --publish-timeout, and a consumer relays the rest", async () => {
    const proxy = await startProxy(SERVICES.moto.port);
    proxies.push(proxy);
    const id = `w${Date.now().toString(36)}`;
    const endpoint = `http://127.0.0.1:${proxy.port}`;
    const flags = [
      "--transport=sns-sqs", `--aws-endpoint=${endpoint}`, "--sqs-wait-time=1",
      `--sns-orders-topic=${id}_orders`, `--sns-payments-topic=${id}_payments`, `--sns-dlq-topic=${id}_dlq`, `--sns-alerts-topic=${id}_alerts`,
      `--sqs-order-queue=${id}_order_q`, `--sqs-analytics-queue=${id}_analytics_q`, `--sqs-payment-queue=${id}_payment_q`, `--sqs-dlq-queue=${id}_dlq_q`,
    ];
    const dir = tempDir();
    const provision = await runEcom(["provision", ...flags, `--data-dir=${dir}`]);
    expect(provision.code).toBe(0);

    const records = [orderAt(3, 1), paymentAt({ seed: 3, unmatchedRatio: 0, duplicateRatio: 0 }, 1), orderAt(3, 2)];
    const file = join(tempDir("ecom-wait-"), "batch.ndjson");
    writeFileSync(file, records.map((r) => JSON.stringify(r)).join("\n") + "\n");

    await proxy.cut();
    const started = Date.now();
    const produce = spawnCaptured([BINARY, "produce", "--from-file", file, ...flags, `--data-dir=${dir}`, "--publish-timeout=12s"]);
    const code = await produce.proc.exited;
    await produce.pumped;
    const seconds = (Date.now() - started) / 1000;
    expect(code).toBe(1);
    // Start-up plus the 12 s wait, with room for a loaded machine; not the SDK's own timeouts (35 s per call).
    expect(seconds).toBeGreaterThanOrEqual(12);
    expect(seconds).toBeLessThan(30);

    const lines = produce.output().trim().split("\n");
    const logs = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const progress = logs.filter((l) => l.msg === "produce: records not yet published");
    // One log line every 10 s (a TTY gets a line every 3 s), naming the broker, what waits and why.
    expect(progress.map((l) => [l.waited_s, l.pending, l.total, l.broker, l.relayed_elsewhere])).toEqual([[10, 3, 3, `SNS+SQS at ${endpoint}`, false]]);
    for (const l of progress) expect(l.last_error).toContain("ECONNREFUSED");
    const last = lines.at(-1)!;
    expect(last).toStartWith(
      `produce: gave up waiting after 12s (--publish-timeout) with 3 of 3 messages (2 orders, 1 payment) still in the outbox of ${dir}, not yet published to SNS+SQS at ${endpoint} (last error: `,
    );
    expect(last).toEndWith(`They are not lost: any ecom process on the same data dir (--data-dir=${dir}) relays them once the broker answers; running produce again would add the file a second time.`);
    expect(last).toContain("ECONNREFUSED");
    const db = await openDb(dir);
    expect(db.prepare("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 3 });
    db.close();

    // As the message says: the broker back, any process on the data dir relays the rows and they are consumed.
    await proxy.restore();
    const app = await startEcom(["--role=order,payment,analytics,dlq", ...flags, `--data-dir=${dir}`]);
    apps.push(app);
    await waitFor("the relayed records stored", async () => {
      const s = await app.get("/status");
      return s.outbox.pending === 0 && s.counters.order.processed === 2 && s.counters.analytics.processed === 2 && s.counters.payment.matched + s.counters.dlq.reconciled === 1;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    expect(await app.get("/orders/1")).toMatchObject({ ...records[0], payment_id: 1 });
    expect(await app.stop()).toBe(0);
  }, 120_000);
});
