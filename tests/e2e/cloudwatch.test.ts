// --cloudwatch and provision --alarms against moto's CloudWatch: the run's counters arrive exactly (both dimension
// sets), an outage is logged and the data arrive once it ends, and the alarms exist with their thresholds, idempotently.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, ListMetricsCommand, type Dimension, type MetricAlarm } from "@aws-sdk/client-cloudwatch";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { startProxy, type Proxy } from "../helpers/proxy.ts";
import { SERVICES, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const motoUp = await serviceAvailable("moto");
const MOTO = `http://${SERVICES.moto.host}:${SERVICES.moto.port}`;
const cw = new CloudWatchClient({ region: "us-east-1", endpoint: MOTO });
const COUNTERS = { received: "Received", processed: "Processed", duplicates: "Duplicates", invalid: "Invalid", dead_lettered: "DeadLettered", failed: "Failed" } as const;
const ROLES = ["order", "payment", "dlq"] as const;
const uid = () => `cw${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** Every value CloudWatch holds for a metric over the last hour (moto buckets by period: the values are summed). */
async function values(namespace: string, name: string, dims: Dimension[], stat = "Sum"): Promise<number[]> {
  const now = Date.now();
  const res = await cw.send(new GetMetricDataCommand({
    StartTime: new Date(now - 3_600_000), EndTime: new Date(now + 600_000),
    MetricDataQueries: [{ Id: "m", MetricStat: { Metric: { Namespace: namespace, MetricName: name, Dimensions: dims }, Period: 60, Stat: stat } }],
  }));
  return res.MetricDataResults?.[0]?.Values ?? [];
}
const sum = async (namespace: string, name: string, dims: Dimension[]) => (await values(namespace, name, dims)).reduce((a, b) => a + b, 0);
const roleDims = (role: string, instance?: string): Dimension[] => [{ Name: "Role", Value: role }, ...(instance ? [{ Name: "Instance", Value: instance }] : [])];

let n = 1;
function batchFile(orders: number, payments: number, invalid: number): string {
  const lines: string[] = [];
  const first = n;
  for (let i = 0; i < orders; i++, n++) lines.push(JSON.stringify({ order_id: n, customer_id: 5, item: "Mouse", quantity: 1, price: 20, shipping_address: "1 Main St", order_status: "pending", creation_date: "2026-01-01T00:00:00Z" }));
  for (let i = 0; i < payments; i++) lines.push(JSON.stringify({ payment_id: 70_000 + first + i, order_id: first + i, payment_method: "paypal", card_last_four: "1234", payment_status: "completed", payment_datetime: "2026-01-01T00:01:00Z" }));
  for (let i = 0; i < invalid; i++) lines.push(JSON.stringify({ order_id: 90_000 + n++, quantity: 0 }));
  const path = join(tempDir("ecom-cw-"), "batch.ndjson");
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

let proxy: Proxy;
beforeAll(async () => {
  if (!motoUp) return;
  proxy = await startProxy(SERVICES.moto.port);
});
// moto's GetMetricData drops the namespace filter once dimensions are given (moto 5.2.5, cloudwatch/models.py): each
// test starts from an empty moto so that the {Role} sums hold this test's data only.
beforeEach(async () => {
  if (motoUp) await fetch(`${MOTO}/moto-api/reset`, { method: "POST" });
});
afterAll(async () => {
  await proxy?.close();
});

describe.skipIf(!motoUp)("--cloudwatch on moto", () => {
  let app: Running | undefined;
  afterAll(() => app?.proc.kill("SIGKILL"));

  test("the counters a run produced arrive exactly, per role and instance and per role; gauges and latency too", async () => {
    const namespace = uid();
    const instance = `i-${namespace}`;
    const dir = tempDir();
    app = await startEcom(["--role=order,payment,dlq", `--data-dir=${dir}`, "--cloudwatch", "--cloudwatch-interval=1s", `--cloudwatch-namespace=${namespace}`,
      `--cloudwatch-instance=${instance}`, `--aws-cloudwatch-endpoint=http://127.0.0.1:${proxy.port}`]);
    const run = await runEcom(["produce", "--from-file", batchFile(30, 20, 2), "--skip-invalid", `--data-dir=${dir}`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("took 30 orders and 20 payments; dead-lettered 2 invalid record(s)\n");
    const status = await waitFor("the batch processed", async () => {
      const s = await app!.get("/status");
      const c = s.counters;
      return c.order.processed === 30 && c.payment.received === 20 && c.payment.matched + c.dlq.reconciled === 20 && c.dlq.received === 2 && s.outbox.pending === 0 ? s : null;
    }, { timeoutMs: 60_000 });
    expect(await app.stop()).toBe(0); // the last tick goes out on the way down
    app = undefined;
    const expected = Object.fromEntries(ROLES.map((r) => [r, Object.fromEntries(Object.keys(COUNTERS).map((c) => [c, status.counters[r][c]]))]));
    expect(expected.order).toEqual({ received: 30, processed: 30, duplicates: 0, invalid: 0, dead_lettered: 0, failed: 0 });
    expect(expected.payment!.received).toBe(20);
    expect(expected.dlq!.received).toBe(2);
    for (const role of ROLES) {
      for (const [counter, name] of Object.entries(COUNTERS)) {
        const want = expected[role]![counter];
        expect([role, name, await sum(namespace, name, roleDims(role, instance))]).toEqual([role, name, want]);
        expect([role, name, await sum(namespace, name, roleDims(role))]).toEqual([role, name, want]);
      }
    }
    const listed = (await cw.send(new ListMetricsCommand({ Namespace: namespace }))).Metrics ?? [];
    const names = new Set(listed.map((m) => `${m.MetricName} ${(m.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(",")}`));
    for (const role of ROLES) for (const name of Object.values(COUNTERS)) expect(names).toContain(`${name} Role=${role},Instance=${instance}`);
    expect(names).toContain(`OutboxPending Instance=${instance}`);
    expect(names).toContain("OutboxPending ");
    expect(names).toContain(`DeadLettersPending Role=dlq,Instance=${instance}`);
    // The last values: nothing left in the outbox; the two invalid records pending in the DLQ.
    expect((await values(namespace, "OutboxPending", [], "Minimum"))).toContain(0);
    const pendingNow = await values(namespace, "DeadLettersPending", roleDims("dlq"), "Maximum");
    expect(Math.max(...pendingNow)).toBe(status.counters.dlq.pending);
    for (const role of ["order", "payment"]) {
      const p50 = await values(namespace, "LatencyP50", roleDims(role), "Minimum");
      const p99 = await values(namespace, "LatencyP99", roleDims(role), "Maximum");
      expect([role, p50.length > 0, p99.length > 0]).toEqual([role, true, true]);
      expect(Math.min(...p50)).toBeLessThanOrEqual(Math.max(...p99));
      expect(Math.min(...p50)).toBeGreaterThanOrEqual(0);
    }
  }, 180_000);

  test("CloudWatch unreachable: logged, the pipeline goes on, and the data arrive once it is back", async () => {
    const namespace = uid();
    const dir = tempDir();
    await proxy.cut();
    app = await startEcom(["--role=order,payment,dlq", `--data-dir=${dir}`, "--cloudwatch", "--cloudwatch-interval=1s", `--cloudwatch-namespace=${namespace}`,
      "--cloudwatch-instance=out-1", `--aws-cloudwatch-endpoint=http://127.0.0.1:${proxy.port}`, "--log-level=info"]);
    const run = await runEcom(["produce", "--from-file", batchFile(10, 0, 0), `--data-dir=${dir}`]);
    expect(run.code).toBe(0);
    await waitFor("the orders processed while CloudWatch is down", async () => (await app!.get("/status")).counters.order.processed === 10, { timeoutMs: 60_000 });
    await waitFor("the failure logged", () => app!.output().includes("cloudwatch: PutMetricData failed; the data wait for the next interval"), { timeoutMs: 30_000 });
    expect(await sum(namespace, "Processed", roleDims("order"))).toBe(0);
    await proxy.restore();
    await waitFor("the held data arrived", async () => (await sum(namespace, "Processed", roleDims("order", "out-1"))) === 10, { timeoutMs: 60_000 });
    await waitFor("recovery logged", () => app!.output().includes("cloudwatch: PutMetricData works again"), { timeoutMs: 30_000 });
    expect(await sum(namespace, "Received", roleDims("order"))).toBe(10);
    expect(await app.stop()).toBe(0);
    app = undefined;
  }, 180_000);
});

describe.skipIf(!motoUp)("ecom provision --alarms on moto", () => {
  test("creates the alarms with their thresholds and topic; again: exists; a changed threshold: updated", async () => {
    const namespace = uid();
    const dir = tempDir();
    const flags = ["provision", "--alarms", `--data-dir=${dir}`, `--aws-endpoint=${MOTO}`, `--cloudwatch-namespace=${namespace}`, `--alarm-topic=${namespace}-alarms`, "--alarm-dead-letters=25", "--alarm-latency-p99=1500ms", "--alarm-outbox-periods=4"];
    const names = [`${namespace}-dead-letters-pending`, ...["order", "payment", "analytics", "dlq"].map((r) => `${namespace}-failed-${r}`), `${namespace}-outbox-pending-growing`, `${namespace}-latency-p99-order`, `${namespace}-latency-p99-payment`];
    const lines = (action: string[]) => names.map((name, i) => `${action[i] ?? action[0]!.padEnd(8)} cloudwatch alarm ${name}`);
    const first = await runEcom(flags);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe("");
    const cwLines = (out: string) => out.split("\n").filter((l) => l.includes("cloudwatch alarm") || l.includes("sns topic"));
    expect(cwLines(first.stdout)).toEqual([`created  sns topic ${namespace}-alarms (alarm actions)`, ...lines(["created "])]);

    const alarms = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: names }))).MetricAlarms ?? [];
    const byName: Record<string, MetricAlarm> = Object.fromEntries(alarms.map((a) => [a.AlarmName, a]));
    const topicArn = `arn:aws:sns:us-east-1:123456789012:${namespace}-alarms`;
    expect(Object.keys(byName).sort()).toEqual([...names].sort());
    expect(byName[`${namespace}-dead-letters-pending`]).toMatchObject({ MetricName: "DeadLettersPending", Namespace: namespace, Dimensions: [{ Name: "Role", Value: "dlq" }], Threshold: 25, ComparisonOperator: "GreaterThanThreshold", Statistic: "Maximum", AlarmActions: [topicArn] });
    for (const r of ["order", "payment", "analytics", "dlq"]) {
      expect(byName[`${namespace}-failed-${r}`]).toMatchObject({ MetricName: "Failed", Dimensions: [{ Name: "Role", Value: r }], Threshold: 0, Statistic: "Sum", ComparisonOperator: "GreaterThanThreshold", AlarmActions: [topicArn] });
    }
    for (const r of ["order", "payment"]) {
      expect(byName[`${namespace}-latency-p99-${r}`]).toMatchObject({ MetricName: "LatencyP99", Dimensions: [{ Name: "Role", Value: r }], Threshold: 1500, EvaluationPeriods: 3 });
    }
    const growing = byName[`${namespace}-outbox-pending-growing`]!;
    expect(growing).toMatchObject({ EvaluationPeriods: 4, Threshold: 0, ComparisonOperator: "GreaterThanThreshold" });
    expect(growing.Metrics!.map((m) => m.Expression ?? m.MetricStat!.Metric!.MetricName)).toEqual(["OutboxPending", "DIFF(pending)"]);

    const second = await runEcom(flags);
    expect(second.code).toBe(0);
    expect(cwLines(second.stdout)).toEqual([`exists   sns topic ${namespace}-alarms (alarm actions)`, ...lines(["exists  "])]);
    const changed = await runEcom([...flags, "--alarm-dead-letters=40"]);
    expect(cwLines(changed.stdout)).toEqual([`exists   sns topic ${namespace}-alarms (alarm actions)`, ...lines(["updated ", ...Array(8).fill("exists  ")])]);
    const after = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: [`${namespace}-dead-letters-pending`] }))).MetricAlarms!;
    expect(after.map((a) => a.Threshold)).toEqual([40]);
  }, 120_000);
});
