// ecom as a Lambda function: the compiled binary as the bootstrap of the real Runtime Interface Emulator, invoked
// with SQS events made of messages received from moto's SQS, storing into Cassandra (through a proxy it can cut).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import cassandra from "cassandra-driver";
import { CreateFunctionCommand, GetEventSourceMappingCommand, LambdaClient, ListEventSourceMappingsCommand } from "@aws-sdk/client-lambda";
import { SubscribeCommand, ListTopicsCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { zip } from "../../scripts/zip.ts";
import { BINARY, ROOT, freePort, runEcom, spawnCaptured, tempDir } from "../helpers/ecom.ts";
import { startProxy, type Proxy } from "../helpers/proxy.ts";
import { SERVICES, moto, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const cassandraUp = await serviceAvailable("cassandra");
const motoUp = await serviceAvailable("moto");

/** The emulator scripts/services built into the cache; under CI a missing one fails the suite. */
function riePath(): string | null {
  const found = Bun.spawnSync([join(ROOT, "scripts", "services"), "path", "rie"], { stderr: "pipe" });
  if (found.exitCode === 0) return found.stdout.toString().trim();
  const reason = `the Lambda Runtime Interface Emulator is not built: scripts/services install rie (${found.stderr.toString().trim()})`;
  if (process.env.CI === "true" || process.env.ECOM_REQUIRE_SERVICES === "1") throw new Error(reason);
  console.warn(`SKIP: ${reason}`);
  return null;
}
const RIE = riePath();
const up = cassandraUp && motoUp && RIE !== null;

const region = "us-east-1";
const sqs = new SQSClient({ region, endpoint: moto.endpoint });
const sns = new SNSClient({ region, endpoint: moto.endpoint });
const id = `l${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const ks = `ecom_lambda_${Math.random().toString(36).slice(2, 10)}`;
const names = {
  ECOM_SNS_ORDERS_TOPIC: `${id}_orders`,
  ECOM_SNS_PAYMENTS_TOPIC: `${id}_payments`,
  ECOM_SNS_DLQ_TOPIC: `${id}_dlq`,
  ECOM_SNS_ALERTS_TOPIC: `${id}_alerts`,
  ECOM_SQS_ORDER_QUEUE: `${id}_order_q`,
  ECOM_SQS_ANALYTICS_QUEUE: `${id}_analytics_q`,
  ECOM_SQS_PAYMENT_QUEUE: `${id}_payment_q`,
  ECOM_SQS_DLQ_QUEUE: `${id}_dlq_q`,
};
const common = {
  ...names,
  ECOM_TRANSPORT: "sns-sqs",
  ECOM_AWS_ENDPOINT: moto.endpoint,
  ECOM_STORE: "cassandra",
  ECOM_CASSANDRA_KEYSPACE: ks,
  ECOM_CASSANDRA_PORT: String(SERVICES.cassandra.port),
};

interface LambdaFn {
  dataDir: string;
  invoke(event: unknown): Promise<{ status: number; body: any }>;
  output(): string;
  stop(): Promise<void>;
}

/** An emulator running ./ecom as the function's bootstrap; the function starts (init) on the first invocation. */
async function startFunction(env: Record<string, string>): Promise<LambdaFn> {
  const [apiPort, port] = [await freePort(), await freePort()];
  const dataDir = tempDir("ecom-lambda-");
  const cmd = [RIE!, "--runtime-api-address", `127.0.0.1:${apiPort}`, "--runtime-interface-emulator-address", `127.0.0.1:${port}`, BINARY];
  const proc = spawnCaptured(cmd, { ...common, ECOM_DATA_DIR: dataDir, ECOM_LOG_LEVEL: "warn", AWS_LAMBDA_FUNCTION_TIMEOUT: "60", ...env });
  const url = `http://127.0.0.1:${port}/2015-03-31/functions/function/invocations`;
  await waitFor("the emulator to listen", async () => {
    if (proc.proc.exitCode !== null) throw new Error(`emulator exited: ${proc.output()}`);
    return (await fetch(url.replace("/2015-03-31/functions/function/invocations", "/"))).status > 0;
  }, { timeoutMs: 60_000 });
  return {
    dataDir,
    async invoke(event) {
      const res = await fetch(url, { method: "POST", body: JSON.stringify(event) });
      const text = await res.text();
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.status, body };
    },
    output: proc.output,
    async stop() {
      proc.proc.kill("SIGTERM");
      await proc.proc.exited;
    },
  };
}

async function queueUrl(name: string): Promise<string> {
  return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
}

async function queueArn(name: string): Promise<string> {
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: await queueUrl(name), AttributeNames: ["QueueArn"] }));
  return attrs.Attributes!.QueueArn!;
}

/** Receives exactly `n` messages from a queue (held invisible for the rest of the test), or fails. */
async function receive(queue: string, n: number): Promise<Message[]> {
  const url = await queueUrl(queue);
  const got: Message[] = [];
  await waitFor(`${n} messages on ${queue}`, async () => {
    const page = await sqs.send(new ReceiveMessageCommand({
      QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 600,
      MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"],
    }));
    got.push(...(page.Messages ?? []));
    return got.length >= n;
  }, { timeoutMs: 30_000, intervalMs: 10 });
  expect(got.length).toBe(n);
  return got;
}

/** The SQS event Lambda's event source mapping would send for these messages. */
function sqsEvent(messages: Message[], arn: string, receiveCount?: number) {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId,
      receiptHandle: m.ReceiptHandle,
      body: m.Body,
      attributes: { ...m.Attributes, ...(receiveCount ? { ApproximateReceiveCount: String(receiveCount) } : {}) },
      messageAttributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, { stringValue: v.StringValue, stringListValues: [], binaryListValues: [], dataType: v.DataType }])),
      md5OfBody: m.MD5OfBody,
      eventSource: "aws:sqs",
      eventSourceARN: arn,
      awsRegion: region,
    })),
  };
}

const order = (order_id: number, price = 10) => ({
  order_id, customer_id: 500 + order_id, item: `item-${order_id}`, quantity: 2, price, shipping_address: `${order_id} Main St`,
  order_status: "placed", creation_date: `2026-12-01T10:00:${String(order_id % 60).padStart(2, "0")}Z`,
});
const payment = (payment_id: number, order_id: number, payment_status = "completed") => ({
  payment_id, order_id, payment_method: "card", card_last_four: "4242", payment_status, payment_datetime: "2026-12-01T10:05:00Z",
});

/** Publishes records through ecom's own SNS topics (ecom produce --from-file over SNS+SQS). */
async function produce(records: object[]): Promise<void> {
  const dir = tempDir("ecom-lambda-produce-");
  const file = join(dir, "in.ndjson");
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const env = Object.fromEntries(Object.entries({ ...common, ECOM_STORE: "sqlite" }).filter(([k]) => !k.startsWith("ECOM_CASSANDRA")));
  const run = await runEcom(["produce", `--from-file=${file}`, `--data-dir=${dir}`, "--log-level=warn"], env);
  expect([run.code, run.stderr]).toEqual([0, ""]);
}

async function withCql<T>(fn: (client: cassandra.Client) => Promise<T>): Promise<T> {
  const client = new cassandra.Client({ contactPoints: [SERVICES.cassandra.host], localDataCenter: "datacenter1", protocolOptions: { port: SERVICES.cassandra.port } });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.shutdown();
  }
}

/** Fact rows by order id (order_id, item, payment_id, payment_status), int64 as numbers. */
async function facts(ids: number[]): Promise<Record<number, { item: string; payment_id: number | null; payment_status: string | null }>> {
  return withCql(async (client) => {
    const rs = await client.execute(`SELECT order_id, item, payment_id, payment_status FROM ${ks}.orders_payments_facts WHERE order_id IN ?`, [ids.map((i) => cassandra.types.Long.fromNumber(i))], { prepare: true });
    return Object.fromEntries(rs.rows.map((r) => [r.order_id.toNumber(), { item: r.item, payment_id: r.payment_id?.toNumber() ?? null, payment_status: r.payment_status }]));
  });
}

/** The dead letters a function published, as the dlq function receives them. */
async function deadLetters(n: number): Promise<{ messages: Message[]; data: any[] }> {
  const messages = await receive(names.ECOM_SQS_DLQ_QUEUE, n);
  return { messages, data: messages.map((m) => JSON.parse(m.Body!).data) };
}

const failures = (body: any) => (body.batchItemFailures as { itemIdentifier: string }[]).map((f) => f.itemIdentifier).sort();
const counters = (fn: LambdaFn, scope: string) => {
  const db = new Database(join(fn.dataDir, "ecom.db"), { readonly: true });
  try {
    return Object.fromEntries(db.query("SELECT name, value FROM counters WHERE scope = ?").all(scope).map((r: any) => [r.name, r.value]));
  } finally {
    db.close();
  }
};

describe.skipIf(!up)("ecom as a Lambda function on the Runtime Interface Emulator", () => {
  let proxy: Proxy;
  let orderFn: LambdaFn;
  let paymentFn: LambdaFn;
  let dlqFn: LambdaFn;
  const envelopeQueue = `${id}_envelope_q`;

  beforeAll(async () => {
    const prov = await runEcom(["provision", `--data-dir=${tempDir()}`, "--log-level=warn"], common);
    expect(prov.code).toBe(0);
    // A queue subscribed without raw delivery: its bodies are SNS envelopes.
    await sqs.send(new CreateQueueCommand({ QueueName: envelopeQueue }));
    const topics = await sns.send(new ListTopicsCommand({}));
    const ordersTopic = topics.Topics!.map((t) => t.TopicArn!).find((a) => a.endsWith(`:${names.ECOM_SNS_ORDERS_TOPIC}`))!;
    await sns.send(new SubscribeCommand({ TopicArn: ordersTopic, Protocol: "sqs", Endpoint: await queueArn(envelopeQueue), Attributes: { RawMessageDelivery: "false" } }));
    proxy = await startProxy(SERVICES.cassandra.port);
    [orderFn, paymentFn, dlqFn] = await Promise.all([
      startFunction({ ECOM_ROLE: "order", ECOM_CASSANDRA_PORT: String(proxy.port), ECOM_LAMBDA_STORE_WAIT: "4s" }),
      startFunction({ ECOM_ROLE: "payment" }),
      startFunction({ ECOM_ROLE: "dlq" }),
    ]);
    // Each function starts (connects, checks the schema) on its first invocation: an empty batch, answered as such.
    for (const fn of [orderFn, paymentFn, dlqFn]) {
      const answer = await fn.invoke({ Records: [] });
      // A failed start says why: the emulator's and the function's own lines.
      if (answer.status !== 200) throw new Error(`warm-up answered ${JSON.stringify(answer)}; output:\n${fn.output().slice(-4000)}`);
      expect(answer).toEqual({ status: 200, body: { batchItemFailures: [] } });
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all([orderFn, paymentFn, dlqFn].map((f) => f?.stop()));
    await proxy?.close();
    if (cassandraUp) await withCql((c) => c.execute(`DROP KEYSPACE IF EXISTS ${ks}`, [], { readTimeout: 60_000 }));
  }, 120_000);

  test("orders from SQS (raw and in SNS envelopes) are stored; a poison record is dead-lettered, stored by the dlq function", async () => {
    await produce([1, 2, 3, 4, 5].map((i) => order(i)));
    const raw = await receive(names.ECOM_SQS_ORDER_QUEUE, 5);
    const wrapped = await receive(envelopeQueue, 5);
    const orderOf = (m: Message) => { const v = JSON.parse(m.Body!); return (v.Type === "Notification" ? JSON.parse(v.Message) : v).data.order_id as number; };
    expect(JSON.parse(wrapped[0]!.Body!).Type).toBe("Notification");
    const batchMessages = [...raw.filter((m) => orderOf(m) <= 3), ...wrapped.filter((m) => orderOf(m) > 3)];
    expect(batchMessages.map(orderOf).sort()).toEqual([1, 2, 3, 4, 5]);
    await sqs.send(new SendMessageCommand({ QueueUrl: await queueUrl(names.ECOM_SQS_ORDER_QUEUE), MessageBody: "not json {" }));
    // Raw orders 4 and 5 are left on the queue, held invisible by receive: the poison record is what comes next.
    const [poison] = await receive(names.ECOM_SQS_ORDER_QUEUE, 1);
    expect(poison!.Body).toBe("not json {");
    const mixed = [...batchMessages.slice(0, 3), poison!, ...batchMessages.slice(3)];
    const arn = await queueArn(names.ECOM_SQS_ORDER_QUEUE);

    const answer = await orderFn.invoke(sqsEvent(mixed, arn));
    expect(answer).toEqual({ status: 200, body: { batchItemFailures: [] } });
    const rows = await facts([1, 2, 3, 4, 5]);
    expect(Object.keys(rows).map(Number).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(rows[4]).toEqual({ item: "item-4", payment_id: null, payment_status: null });
    expect(counters(orderFn, "order")).toMatchObject({ received: 6, processed: 5, invalid: 1, dead_lettered: 1 });

    // The dead letter was published before the answer; the dlq function stores it.
    const dl = await deadLetters(1);
    expect(dl.data[0]).toMatchObject({ reason: "malformed", message_id: poison!.MessageId, original: "not json {", subscription: "order" });
    const stored = await dlqFn.invoke(sqsEvent(dl.messages, await queueArn(names.ECOM_SQS_DLQ_QUEUE)));
    expect(stored).toEqual({ status: 200, body: { batchItemFailures: [] } });
    const row = await withCql((c) => c.execute(`SELECT reason, status, original FROM ${ks}.dead_letters WHERE id = ?`, [dl.data[0].id], { prepare: true }));
    expect(row.rows.map((r) => [r.reason, r.status, r.original])).toEqual([["malformed", "pending", "not json {"]]);
  }, 120_000);

  test("payments are set on their orders, an unmatched one is dead-lettered, a redelivered batch is not applied twice", async () => {
    // 101 fails on order 1, and 102 (its retry) later replaces it; 103 pays order 3; order 999 does not exist.
    await produce([payment(101, 1, "failed"), payment(103, 3), payment(999, 999)]);
    const first = await receive(names.ECOM_SQS_PAYMENT_QUEUE, 3);
    const arn = await queueArn(names.ECOM_SQS_PAYMENT_QUEUE);
    expect(await paymentFn.invoke(sqsEvent(first, arn))).toEqual({ status: 200, body: { batchItemFailures: [] } });
    expect(await facts([1, 3])).toMatchObject({ 1: { payment_id: 101, payment_status: "failed" }, 3: { payment_id: 103, payment_status: "completed" } });
    const unmatched = await deadLetters(1);
    expect(unmatched.data[0]).toMatchObject({ id: "unmatched_order.payment.999", reason: "unmatched_order" });

    await produce([payment(102, 1)]);
    const retry = await receive(names.ECOM_SQS_PAYMENT_QUEUE, 1);
    expect(await paymentFn.invoke(sqsEvent(retry, arn))).toEqual({ status: 200, body: { batchItemFailures: [] } });
    expect((await facts([1]))[1]).toMatchObject({ payment_id: 102, payment_status: "completed" });

    // SQS redelivers the first batch (same message ids, received again): 101 must not replace 102 again.
    expect(await paymentFn.invoke(sqsEvent(first, arn, 2))).toEqual({ status: 200, body: { batchItemFailures: [] } });
    expect(await facts([1, 3])).toMatchObject({ 1: { payment_id: 102, payment_status: "completed" }, 3: { payment_id: 103 } });
    expect(counters(paymentFn, "payment")).toMatchObject({ received: 7, matched: 3, duplicates: 2, unmatched: 2 });
    // The unmatched payment is dead-lettered again (its record's attempts count up in the store).
    expect((await deadLetters(1)).data[0]).toMatchObject({ id: "unmatched_order.payment.999", reason: "unmatched_order" });
  }, 120_000);

  test("with the store unavailable exactly the records whose write failed are reported; the poison record is dead-lettered", async () => {
    await produce([10, 11, 12].map((i) => order(i)));
    const orders = await receive(names.ECOM_SQS_ORDER_QUEUE, 3);
    expect(orders.map((m) => JSON.parse(m.Body!).data.order_id).sort()).toEqual([10, 11, 12]);
    await sqs.send(new SendMessageCommand({ QueueUrl: await queueUrl(names.ECOM_SQS_ORDER_QUEUE), MessageBody: JSON.stringify({ order_id: 13, quantity: -1 }) }));
    const [poison] = await receive(names.ECOM_SQS_ORDER_QUEUE, 1);
    const arn = await queueArn(names.ECOM_SQS_ORDER_QUEUE);

    await proxy.cut();
    let answer: Awaited<ReturnType<LambdaFn["invoke"]>>;
    try {
      answer = await orderFn.invoke(sqsEvent([orders[0]!, poison!, ...orders.slice(1)], arn));
    } finally {
      await proxy.restore();
    }
    expect(answer.status).toBe(200);
    expect(failures(answer.body)).toEqual(orders.map((m) => m.MessageId!).sort());
    expect(await facts([10, 11, 12])).toEqual({});
    const dl = await deadLetters(1);
    expect(dl.data[0]).toMatchObject({ id: "invalid.order.13", reason: "invalid", message_id: poison!.MessageId });

    // SQS redelivers the reported records; once the store answers again they are stored.
    await waitFor("the redelivered records to be stored", async () => {
      const again = await orderFn.invoke(sqsEvent(orders, arn, 2));
      return again.status === 200 && again.body.batchItemFailures.length === 0;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    expect(Object.keys(await facts([10, 11, 12])).map(Number).sort()).toEqual([10, 11, 12]);
    expect(orderFn.output()).toContain("records not durable, reported as batch item failures");
  }, 180_000);

  test("analytics: a large order's alert is published before the answer", async () => {
    const alerts = `${id}_alerts_q`;
    await sqs.send(new CreateQueueCommand({ QueueName: alerts }));
    const topics = await sns.send(new ListTopicsCommand({}));
    const alertsTopic = topics.Topics!.map((t) => t.TopicArn!).find((a) => a.endsWith(`:${names.ECOM_SNS_ALERTS_TOPIC}`))!;
    await sns.send(new SubscribeCommand({ TopicArn: alertsTopic, Protocol: "sqs", Endpoint: await queueArn(alerts), Attributes: { RawMessageDelivery: "true" } }));
    const fn = await startFunction({ ECOM_ROLE: "analytics", ECOM_LARGE_ORDER_THRESHOLD: "1000" });
    try {
      await produce([order(20), order(21, 900)]);
      // The analytics queue also holds the earlier tests' orders: take these two.
      const ours = (await receive(names.ECOM_SQS_ANALYTICS_QUEUE, 10)).filter((m) => [20, 21].includes(JSON.parse(m.Body!).data.order_id));
      expect(ours.length).toBe(2);
      const answer = await fn.invoke(sqsEvent(ours, await queueArn(names.ECOM_SQS_ANALYTICS_QUEUE)));
      expect(answer).toEqual({ status: 200, body: { batchItemFailures: [] } });
      const [alert] = await receive(alerts, 1);
      expect(JSON.parse(alert!.Body!).data).toMatchObject({ order_id: 21, alert: "large_order", total: 1800, threshold: 1000 });
      expect(counters(fn, "analytics")).toMatchObject({ received: 2, processed: 2, alerts: 1 });
    } finally {
      await fn.stop();
    }
  }, 120_000);

  test("a setting the function cannot run with is reported as its init error", async () => {
    const fn = await startFunction({ ECOM_ROLE: "all" });
    try {
      const answer = await fn.invoke({ Records: [] });
      expect(answer.body).toMatchObject({
        errorType: "Runtime.ConfigError",
        errorMessage: "ecom lambda serves one role: --role (ECOM_ROLE) must be one of order, payment, analytics, dlq; got producer,order,payment,analytics,dlq",
      });
    } finally {
      await fn.stop();
    }
  }, 60_000);

  test("an event that is not an SQS batch is the invocation's error, and the function serves the next one", async () => {
    const answer = await orderFn.invoke({ hello: "world" });
    expect(answer.body).toMatchObject({ errorType: "Runtime.UnsupportedEvent", errorMessage: "ecom lambda --role=order takes SQS events (an object with Records); got an object with keys hello" });
    expect(await orderFn.invoke({ Records: [] })).toEqual({ status: 200, body: { batchItemFailures: [] } });
  }, 60_000);
});

describe.skipIf(!motoUp)("ecom provision --lambda on moto's Lambda API", () => {
  const pid = `p${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const flags = [
    "--transport=sns-sqs", `--aws-endpoint=${moto.endpoint}`, `--data-dir=${tempDir()}`, "--log-level=warn",
    `--sns-orders-topic=${pid}_orders`, `--sns-payments-topic=${pid}_payments`, `--sns-dlq-topic=${pid}_dlq`, `--sns-alerts-topic=${pid}_alerts`,
    `--sqs-order-queue=${pid}_order_q`, `--sqs-analytics-queue=${pid}_analytics_q`, `--sqs-payment-queue=${pid}_payment_q`, `--sqs-dlq-queue=${pid}_dlq_q`,
    `--lambda-function-prefix=${pid}-`,
  ];
  const lambda = new LambdaClient({ region, endpoint: moto.endpoint });
  const queuesOf: Record<string, string[]> = {
    order: [`${pid}_order_q`], payment: [`${pid}_payment_q`], analytics: [`${pid}_analytics_q`],
    dlq: [`${pid}_dlq_q`, `${pid}_order_q_dlq`, `${pid}_analytics_q_dlq`, `${pid}_payment_q_dlq`],
  };
  const lines = (action: string, batch = 10, window = 0) =>
    Object.entries(queuesOf).flatMap(([role, queues]) => queues.map((q) => `${action.padEnd(8)} lambda event source ${q} -> ${pid}-${role} (batch ${batch}, window ${window} s, ReportBatchItemFailures)`));
  const mappingLines = (stdout: string) => stdout.trim().split("\n").filter((l) => l.includes("lambda event source"));

  test("creates one mapping per function and queue with ReportBatchItemFailures; again creates nothing; new settings update them", async () => {
    const missing = await runEcom(["provision", "--lambda", ...flags]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`lambda function ${pid}-order not found`);
    expect(missing.stderr).toContain("deploy it first");

    // The functions, as the README's aws lambda create-function lines make them (moto wants the role to exist).
    const role = await fetch(`${moto.endpoint}/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0" },
      body: new URLSearchParams({ Action: "CreateRole", Version: "2010-05-08", RoleName: `${pid}-role`, AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }] }) }),
    });
    const roleArn = /<Arn>(.*?)<\/Arn>/.exec(await role.text())![1]!;
    const code = zip([{ name: "bootstrap", data: Buffer.from("#!/bin/sh\nexit 1\n"), mode: 0o755 }]);
    for (const r of Object.keys(queuesOf)) {
      await lambda.send(new CreateFunctionCommand({ FunctionName: `${pid}-${r}`, Runtime: "provided.al2023", Architectures: ["x86_64"], Role: roleArn, Handler: "bootstrap", Code: { ZipFile: code } }));
    }

    const created = await runEcom(["provision", "--lambda", ...flags]);
    expect([created.code, created.stderr]).toEqual([0, ""]);
    expect(mappingLines(created.stdout)).toEqual(lines("created"));
    for (const [r, queues] of Object.entries(queuesOf)) {
      const page = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: `${pid}-${r}` }));
      const got = page.EventSourceMappings!.map((m) => JSON.stringify([m.EventSourceArn!.split(":").at(-1), m.BatchSize, m.FunctionResponseTypes, m.State])).sort();
      expect(got).toEqual(queues.map((q) => JSON.stringify([q, 10, ["ReportBatchItemFailures"], "Enabled"])).sort());
    }

    const again = await runEcom(["provision", "--lambda", ...flags]);
    expect(mappingLines(again.stdout)).toEqual(lines("exists"));

    const wider = await runEcom(["provision", "--lambda", "--lambda-batch-size=100", "--lambda-batch-window=5", ...flags]);
    expect(mappingLines(wider.stdout)).toEqual(lines("updated", 100, 5));
    const [one] = (await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: `${pid}-payment` }))).EventSourceMappings!;
    const got = await lambda.send(new GetEventSourceMappingCommand({ UUID: one!.UUID }));
    expect([got.BatchSize, got.MaximumBatchingWindowInSeconds, got.FunctionResponseTypes]).toEqual([100, 5, ["ReportBatchItemFailures"]]);

    const bad = await runEcom(["provision", "--lambda", "--lambda-batch-size=100", ...flags]);
    expect([bad.code, bad.stderr.trim()]).toEqual([2, "ecom: --lambda-batch-size above 10 needs --lambda-batch-window of 1 or more (SQS event source mappings require it)"]);
  }, 180_000);
});
