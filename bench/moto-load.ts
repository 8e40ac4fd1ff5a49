// Issue 20: moto under load with the bare AWS SDK and no ecom: how its answers scale with requests open at once.
// `bun bench/moto-load.ts [sweep|polls|publish] ...` (ECOM_MOTO_PORT names moto's port; reset nothing: fresh names).
//   sweep [--seconds=8]            ListQueues from C concurrent loops, C = 1, 4, 16, 64: req/s, p50, max
//   polls [--polls=0,16,64]        the same ListQueues at C = 4 with N idle 20 s long polls open on empty queues
//   publish --concurrency=C [--timeout-ms=T --attempts=A] [--messages=6200]
//                                  PublishBatch of the messages over a two-queue and a one-queue topic (ecom's shape),
//                                  C batches in flight, with or without an SDK request timeout and retries (ecom's
//                                  relay: 35 s, 3 attempts), probing moto with ListQueues every 2 s
import { readFileSync } from "node:fs";
import { CreateTopicCommand, PublishBatchCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, ListQueuesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const argv = process.argv.slice(2);
const mode = argv[0] ?? "sweep";
const opt = (name: string, fallback: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const port = Number(process.env.ECOM_MOTO_PORT ?? 5000);
const endpoint = `http://127.0.0.1:${port}`;
const pidFile = new URL("../.services/moto/moto.pid", import.meta.url).pathname;
const motoPid = (() => {
  try {
    return Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return null;
  }
})();
const threads = () => (motoPid ? Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${motoPid}/status`, "utf8"))?.[1]) : NaN);
const cpu = () => (motoPid ? readFileSync(`/proc/${motoPid}/stat`, "utf8").split(") ")[1]!.split(" ").slice(11, 13).reduce((a, b) => a + Number(b), 0) / 100 : NaN);
const id = `ml${Date.now().toString(36)}`;
const client = (extra: Record<string, unknown> = {}) => {
  const base = { region: "us-east-1", endpoint, requestHandler: { httpAgent: { keepAlive: true, maxSockets: 512 } }, ...extra };
  return { sqs: new SQSClient(base), sns: new SNSClient(base) };
};
const quantile = (xs: number[], q: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]! : NaN);

/** C loops of ListQueues for `seconds`: requests per second and latency. */
async function listLoad(concurrency: number, seconds: number) {
  const { sqs } = client();
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const cpu0 = cpu();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await sqs.send(new ListQueuesCommand({ MaxResults: 1 }));
        latencies.push(performance.now() - t);
      }
    }),
  );
  const spent = performance.now() - (end - seconds * 1000);
  sqs.destroy();
  return { rps: latencies.length / (spent / 1000), p50: quantile(latencies, 0.5), max: Math.max(...latencies), cores: (cpu() - cpu0) / (spent / 1000) };
}

async function sweep() {
  const seconds = Number(opt("seconds", "8"));
  for (const c of [1, 4, 16, 64]) {
    const r = await listLoad(c, seconds);
    console.log(`ListQueues, ${c} at once: ${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(0)} ms, max ${r.max.toFixed(0)} ms, moto ${r.cores.toFixed(2)} cores, ${threads()} threads`);
  }
}

async function polls() {
  const counts = opt("polls", "0,16,64").split(",").map(Number);
  const { sqs } = client({ requestHandler: { httpAgent: { keepAlive: true, maxSockets: 512 }, requestTimeout: 60_000 } });
  const urls: string[] = [];
  for (let q = 0; q < 4; q++) urls.push((await sqs.send(new CreateQueueCommand({ QueueName: `${id}_idle${q}` }))).QueueUrl!);
  for (const n of counts) {
    const stop = new AbortController();
    const open = Array.from({ length: n }, async (_, i) => {
      while (!stop.signal.aborted) {
        await sqs.send(new ReceiveMessageCommand({ QueueUrl: urls[i % urls.length], WaitTimeSeconds: 20, MaxNumberOfMessages: 10 }), { abortSignal: stop.signal }).catch(() => {});
      }
    });
    await Bun.sleep(1500);
    const r = await listLoad(4, Number(opt("seconds", "8")));
    console.log(`${n} idle long polls open: ListQueues at 4 at once ${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(0)} ms, max ${r.max.toFixed(0)} ms, moto ${r.cores.toFixed(2)} cores, ${threads()} threads`);
    stop.abort();
    await Promise.all(open);
  }
  sqs.destroy();
}

async function publish() {
  const concurrency = Number(opt("concurrency", "16"));
  const timeoutMs = Number(opt("timeout-ms", "0"));
  const attempts = Number(opt("attempts", "1"));
  const messages = Number(opt("messages", "6200"));
  const handler = { httpAgent: { keepAlive: true, maxSockets: 512 }, ...(timeoutMs ? { requestTimeout: timeoutMs, throwOnRequestTimeout: true } : {}) };
  const { sqs, sns } = client({ requestHandler: handler, maxAttempts: attempts });
  const admin = client();
  const topics: string[] = [];
  const queues: string[] = [];
  for (const [t, fan] of [["orders", 2], ["payments", 1]] as const) {
    const arn = (await admin.sns.send(new CreateTopicCommand({ Name: `${id}_${t}` }))).TopicArn!;
    topics.push(arn);
    for (let q = 0; q < fan; q++) {
      const url = (await admin.sqs.send(new CreateQueueCommand({ QueueName: `${id}_${t}_${q}` }))).QueueUrl!;
      const qarn = (await admin.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
      await admin.sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: "sqs", Endpoint: qarn, Attributes: { RawMessageDelivery: "true" } }));
      queues.push(url);
    }
  }
  const body = JSON.stringify({ id: "x", type: "order", version: 1, produced_at: new Date().toISOString(), data: { order_id: 1, item: "Laptop", shipping_address: "1 Main St, Springfield" } });
  const batches = Array.from({ length: Math.ceil(messages / 10) }, (_, b) => ({ topic: topics[b % 2]!, n: Math.min(10, messages - b * 10) }));
  let next = 0;
  let confirmed = 0;
  let failedCalls = 0;
  const t0 = performance.now();
  const probeMs: (number | null)[] = [];
  let running = true;
  const probe = (async () => {
    const { sqs: p } = client({ maxAttempts: 1 });
    while (running) {
      const t = performance.now();
      const ok = await p.send(new ListQueuesCommand({ MaxResults: 1 }), { abortSignal: AbortSignal.timeout(10_000) }).then(() => true, () => false);
      probeMs.push(ok ? performance.now() - t : null);
      const s = ((performance.now() - t0) / 1000).toFixed(0);
      if (probeMs.length % 5 === 0) console.log(`  ${s} s: ${confirmed} confirmed, ${failedCalls} calls failed, moto ${threads()} threads, ListQueues ${ok ? `${(performance.now() - t).toFixed(0)} ms` : "NO ANSWER in 10 s"}`);
      await Bun.sleep(2000);
    }
    p.destroy();
  })();
  const deadline = t0 + Number(opt("deadline-s", "300")) * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches.length && performance.now() < deadline) {
        const b = batches[next++]!;
        const entries = Array.from({ length: b.n }, (_, i) => ({ Id: `m${i}`, Message: body }));
        try {
          const answer = await sns.send(new PublishBatchCommand({ TopicArn: b.topic, PublishBatchRequestEntries: entries }));
          confirmed += answer.Successful?.length ?? 0;
        } catch {
          // The relay's way: the batch goes back and is tried again later.
          failedCalls++;
          next--;
          batches[next] = b;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  await probe;
  let depth = 0;
  for (const url of queues) {
    const a = await admin.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }));
    depth += Number(a.Attributes?.ApproximateNumberOfMessages ?? 0);
  }
  const answered = probeMs.filter((x): x is number => x !== null);
  console.log(
    `publish ${messages} messages, ${concurrency} batches in flight, timeout ${timeoutMs || "none"}, attempts ${attempts}: ${confirmed} confirmed in ${seconds.toFixed(1)} s ` +
      `(${(confirmed / seconds).toFixed(0)} msg/s), ${failedCalls} calls failed; queues hold ${depth} deliveries (expected ${confirmed * 1.5}); ` +
      `ListQueues probes ${probeMs.length}, unanswered ${probeMs.length - answered.length}, p50 ${quantile(answered, 0.5).toFixed(0)} ms, max ${Math.max(...answered).toFixed(0)} ms; moto ${threads()} threads after`,
  );
  for (const c of [sqs, sns, admin.sqs, admin.sns]) c.destroy();
}

if (mode === "sweep") await sweep();
else if (mode === "polls") await polls();
else if (mode === "publish") await publish();
else throw new Error(`unknown mode ${mode}: sweep, polls or publish`);
