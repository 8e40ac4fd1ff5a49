// `ecom produce --from-file s3://...` and `--archive=s3://...` against moto's S3: 100 records and 50 MB, both ways,
// a missing object or bucket and an IAM-denied bucket (each refused with the reason, nothing published).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { openDb, type DbHandle } from "../../src/db/open.ts";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { SERVICES, serviceAvailable } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";
const motoUp = await serviceAvailable("moto");
const MOTO = `http://${SERVICES.moto.host}:${SERVICES.moto.port}`;
const s3 = new S3Client({ region: "us-east-1", endpoint: MOTO, forcePathStyle: true });
const AWS = [`--aws-endpoint=${MOTO}`];
const TODAY = () => new Date().toISOString().slice(0, 10);

const sha256 = (text: string | Buffer) => createHash("sha256").update(text).digest("hex");
async function objectSha(bucket: string, key: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash("sha256");
  for await (const chunk of res.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest("hex");
}
const keysUnder = async (bucket: string, prefix: string) =>
  ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => ({ key: o.Key, size: o.Size, modified: o.LastModified?.toISOString() }));

const order = (id: number) => ({ order_id: id, customer_id: 1000 + (id % 97), item: "Laptop", quantity: 1 + (id % 3), price: 10 + (id % 500), shipping_address: `${id} Elm St, Springfield`, order_status: "pending", creation_date: "2026-03-04T05:06:07.000Z" });
const payment = (id: number) => ({ payment_id: 900_000_000 + id, order_id: id, payment_method: "credit_card", card_last_four: String(1000 + (id % 9000)), payment_status: "completed", payment_datetime: "2026-03-04T05:07:08.000Z" });

/** `orders` orders each followed by its payment, as NDJSON; `padding` lengthens each order's address. */
function ndjson(first: number, orders: number, padding = ""): string {
  const lines: string[] = [];
  for (let id = first; id < first + orders; id++) {
    const o = order(id);
    lines.push(JSON.stringify(padding ? { ...o, shipping_address: `${o.shipping_address}, ${padding}` } : o), JSON.stringify(payment(id)));
  }
  return lines.join("\n") + "\n";
}

let dir: string;
let app: Running;
let handle: DbHandle;

beforeAll(async () => {
  if (!motoUp) return;
  await fetch(`${MOTO}/moto-api/reset`, { method: "POST" });
  for (const Bucket of ["ecom-in", "ecom-archive", "ecom-denied"]) await s3.send(new CreateBucketCommand({ Bucket }));
  dir = tempDir();
  app = await startEcom(["--role=order,payment,dlq", `--data-dir=${dir}`]);
  handle = await openDb(dir);
}, 60_000);

afterAll(async () => {
  handle?.close();
  if (app) {
    expect(await app.stop()).toBe(0);
    app.proc.kill("SIGKILL");
  }
});

const produce = (source: string, ...extra: string[]) => runEcom(["produce", "--from-file", source, `--data-dir=${dir}`, ...AWS, ...extra]);
const outboxRows = () => handle.prepare("SELECT count(*) AS n FROM outbox").get<{ n: number }>()!.n;
const producerCounters = () => Object.fromEntries(handle.prepare("SELECT name, value FROM counters WHERE scope = 'producer'").all<{ name: string; value: number }>().map((r) => [r.name, r.value]));
/** stderr of a run that may have reported its progress (a line every 10 s while records wait): only such lines. */
const onlyProgress = (stderr: string) =>
  stderr.split("\n").filter(Boolean).filter((l) => { try { return JSON.parse(l).msg !== "produce: records not yet published"; } catch { return true; } });
const logRows = (db: DbHandle) => Object.fromEntries(db.prepare("SELECT topic, count(*) AS n FROM local_log GROUP BY topic").all<{ topic: string; n: number }>().map((r) => [r.topic, r.n]));

async function allPaid(first: number, orders: number) {
  await waitFor(`orders ${first}..${first + orders - 1} stored and paid`, async () => {
    const s = await app.get("/status");
    const row = handle.prepare("SELECT count(*) AS n FROM orders_payments_facts WHERE order_id BETWEEN ? AND ? AND payment_id IS NOT NULL").get<{ n: number }>(first, first + orders - 1);
    return row!.n === orders && s.outbox.pending === 0;
  }, { timeoutMs: 60_000 });
}

describe.skipIf(!motoUp)("ecom produce with S3", () => {
  test("100 records from s3://, archived by date and sha256; the same file again is not uploaded twice", async () => {
    const text = ndjson(1, 50);
    await s3.send(new PutObjectCommand({ Bucket: "ecom-in", Key: "batches/100.ndjson", Body: text }));
    const key = `raw/${TODAY()}/${sha256(text)}.ndjson`;
    const run = await produce("s3://ecom-in/batches/100.ndjson", "--archive=s3://ecom-archive/raw/");
    expect(run).toEqual({ code: 0, stdout: `archived ${Buffer.byteLength(text)} bytes to s3://ecom-archive/${key}\ntook 50 orders and 50 payments\n`, stderr: "" });
    await allPaid(1, 50);
    const stored = handle.prepare("SELECT * FROM orders_payments_facts WHERE order_id = 7").get<Record<string, unknown>>()!;
    expect(stored).toMatchObject({ ...order(7), payment_id: payment(7).payment_id, card_last_four: payment(7).card_last_four });
    const archived = await keysUnder("ecom-archive", "raw/");
    expect(archived.map((o) => [o.key, o.size])).toEqual([[key, Buffer.byteLength(text)]]);
    expect(await objectSha("ecom-archive", key)).toBe(sha256(text));
    const head = await s3.send(new HeadObjectCommand({ Bucket: "ecom-archive", Key: key }));
    expect(head.Metadata).toEqual({ source: encodeURIComponent("s3://ecom-in/batches/100.ndjson"), sha256: sha256(text), "ingested-at": expect.any(String) });

    const before = (await app.get("/status")).counters;
    const again = await produce("s3://ecom-in/batches/100.ndjson", "--archive=s3://ecom-archive/raw/");
    expect(again).toEqual({ code: 0, stdout: `archive s3://ecom-archive/${key} exists (same sha256): not uploaded again\ntook 50 orders and 50 payments\n`, stderr: "" });
    expect(await keysUnder("ecom-archive", "raw/")).toEqual(archived);
    // Published again (a re-run is a re-run); the inbox takes the copies as duplicates.
    await waitFor("the re-run's copies counted as duplicates", async () => {
      const c = (await app.get("/status")).counters;
      return c.order.duplicates - before.order.duplicates === 50 && c.payment.duplicates - before.payment.duplicates === 50;
    }, { timeoutMs: 60_000 });
  }, 120_000);

  test("a local JSON array archived on upload, then published", async () => {
    const records = Array.from({ length: 50 }, (_, i) => [order(101 + i), payment(101 + i)]).flat();
    const text = JSON.stringify(records);
    const path = join(tempDir("ecom-s3-"), "batch.json");
    writeFileSync(path, text);
    const key = `by-day/${TODAY()}/${sha256(text)}.json`;
    const run = await produce(path, "--archive=s3://ecom-archive/by-day");
    expect(run).toEqual({ code: 0, stdout: `archived ${text.length} bytes to s3://ecom-archive/${key}\ntook 50 orders and 50 payments\n`, stderr: "" });
    expect(await objectSha("ecom-archive", key)).toBe(sha256(text));
    await allPaid(101, 50);
  }, 120_000);

  test("a missing object or bucket: the reason, exit 2, nothing published or archived", async () => {
    const counters = producerCounters();
    const missing = await produce("s3://ecom-in/batches/none.ndjson", "--archive=s3://ecom-archive/never/");
    expect(missing).toEqual({ code: 2, stdout: "", stderr: "ecom: --from-file: cannot read s3://ecom-in/batches/none.ndjson: NoSuchKey: The specified key does not exist. (HTTP 404)\n" });
    const noBucket = await produce("s3://ecom-nowhere/x.ndjson");
    expect(noBucket).toEqual({ code: 2, stdout: "", stderr: "ecom: --from-file: cannot read s3://ecom-nowhere/x.ndjson: NoSuchBucket: The specified bucket does not exist (HTTP 404)\n" });
    const path = join(tempDir("ecom-s3-"), "ok.ndjson");
    writeFileSync(path, ndjson(201, 2));
    const noArchive = await produce(path, "--archive=s3://ecom-nowhere/raw/");
    expect(noArchive.code).toBe(2);
    expect(noArchive.stdout).toBe("");
    expect(noArchive.stderr).toStartWith(`ecom: --archive: cannot archive to s3://ecom-nowhere/raw/${TODAY()}/`);
    expect(noArchive.stderr).toEndWith(".ndjson: NoSuchBucket: The specified bucket does not exist (HTTP 404)\n");
    const badUrl = await produce("s3://x/k");
    expect(badUrl).toEqual({ code: 2, stdout: "", stderr: 'ecom: --from-file: "s3://x/k" is not valid; accepted: s3://BUCKET/KEY (a bucket name of 3-63 lowercase letters, digits, . and -)\n' });
    expect(outboxRows()).toBe(0);
    expect(producerCounters()).toEqual(counters);
    expect(await keysUnder("ecom-archive", "never/")).toEqual([]);
    expect(handle.prepare("SELECT count(*) AS n FROM orders_payments_facts WHERE order_id IN (201, 202)").get()).toEqual({ n: 0 });
  }, 60_000);

  test("a bucket IAM denies: AccessDenied for reading and for archiving, nothing published", async () => {
    const text = ndjson(301, 2);
    await s3.send(new PutObjectCommand({ Bucket: "ecom-denied", Key: "in.ndjson", Body: text }));
    // A moto IAM user allowed S3 except that bucket; moto checks signatures and policies once reset-auth is 0.
    const iam = async (params: Record<string, string>) => {
      const res = await fetch(`${MOTO}/`, {
        method: "POST",
        headers: { authorization: "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x", "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ Version: "2010-05-08", ...params }),
      });
      const body = await res.text();
      if (!res.ok) throw new Error(`IAM ${params.Action}: ${res.status} ${body}`);
      return body;
    };
    const user = `ecom-${Date.now()}`;
    await iam({ Action: "CreateUser", UserName: user });
    const policy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }, { Effect: "Deny", Action: "s3:*", Resource: ["arn:aws:s3:::ecom-denied", "arn:aws:s3:::ecom-denied/*"] }] };
    await iam({ Action: "PutUserPolicy", UserName: user, PolicyName: "deny-one", PolicyDocument: JSON.stringify(policy) });
    const keys = await iam({ Action: "CreateAccessKey", UserName: user });
    const env = { AWS_ACCESS_KEY_ID: /<AccessKeyId>(.+?)</.exec(keys)![1]!, AWS_SECRET_ACCESS_KEY: /<SecretAccessKey>(.+?)</.exec(keys)![1]! };
    const path = join(tempDir("ecom-s3-"), "ok.ndjson");
    writeFileSync(path, text);
    const counters = producerCounters();
    await fetch(`${MOTO}/moto-api/reset-auth`, { method: "POST", body: "0" });
    let read, archived, allowed;
    try {
      read = await runEcom(["produce", "--from-file", "s3://ecom-denied/in.ndjson", `--data-dir=${dir}`, ...AWS], env);
      archived = await runEcom(["produce", "--from-file", path, "--archive=s3://ecom-denied/raw/", `--data-dir=${dir}`, ...AWS], env);
      // The same user reads another bucket: the refusal is the policy's, not a bad signature.
      await fetch(`${MOTO}/moto-api/reset-auth`, { method: "POST", body: "0" });
      allowed = await runEcom(["produce", "--from-file", "s3://ecom-in/batches/none.ndjson", `--data-dir=${dir}`, ...AWS], env);
    } finally {
      await fetch(`${MOTO}/moto-api/reset-auth`, { method: "POST", body: "inf" });
    }
    expect(read).toEqual({ code: 2, stdout: "", stderr: "ecom: --from-file: cannot read s3://ecom-denied/in.ndjson: AccessDenied: Access Denied (HTTP 403)\n" });
    expect(archived).toEqual({ code: 2, stdout: "", stderr: `ecom: --archive: cannot archive to s3://ecom-denied/raw/${TODAY()}/${sha256(text)}.ndjson: Forbidden (HTTP 403)\n` });
    expect(allowed.stderr).toContain("NoSuchKey");
    expect(outboxRows()).toBe(0);
    expect(producerCounters()).toEqual(counters);
    expect(await keysUnder("ecom-denied", "raw/")).toEqual([]);
  }, 60_000);

  test("a 50 MB file: from s3:// and archived from disk (multipart), streamed; counts exact", async () => {
    const started = performance.now();
    const path = join(tempDir("ecom-s3-big-"), "big.ndjson");
    const out = createWriteStream(path);
    const hash = createHash("sha256");
    let orders = 0;
    let bytes = 0;
    // About 2.2 KB per order and payment: 50 MB in ~24,000 pairs (per-record validation, not bytes, bounds the run time).
    const padding = "Building C, Suite 400, attention of the receiving dock, ".repeat(32);
    for (let id = 1_000_000; bytes < 50 * 1024 * 1024; id += 500) {
      const chunk = ndjson(id, 500, padding);
      hash.update(chunk);
      bytes += Buffer.byteLength(chunk);
      orders += 500;
      if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
    }
    await new Promise((r) => out.end(r));
    const sha = hash.digest("hex");
    expect(statSync(path).size).toBe(bytes);
    await new Upload({ client: s3, params: { Bucket: "ecom-in", Key: "big/big.ndjson", Body: createReadStream(path) } }).done();
    const generated = performance.now();

    const fromS3Dir = tempDir();
    const t0 = performance.now();
    const fromS3 = await runEcom(["produce", "--from-file", "s3://ecom-in/big/big.ndjson", `--data-dir=${fromS3Dir}`, ...AWS]);
    const t1 = performance.now();
    expect({ ...fromS3, stderr: onlyProgress(fromS3.stderr) }).toEqual({ code: 0, stdout: `took ${orders} orders and ${orders} payments\n`, stderr: [] });
    const s3Db = await openDb(fromS3Dir);
    try {
      expect(logRows(s3Db)).toEqual({ orders, payments: orders });
    } finally {
      s3Db.close();
    }

    const archiveDir = tempDir();
    const t2 = performance.now();
    const archivedRun = await runEcom(["produce", "--from-file", path, "--archive=s3://ecom-archive/big/", `--data-dir=${archiveDir}`, ...AWS]);
    const t3 = performance.now();
    const key = `big/${TODAY()}/${sha}.ndjson`;
    expect({ ...archivedRun, stderr: onlyProgress(archivedRun.stderr) }).toEqual({ code: 0, stdout: `archived ${bytes} bytes to s3://ecom-archive/${key}\ntook ${orders} orders and ${orders} payments\n`, stderr: [] });
    expect((await keysUnder("ecom-archive", "big/")).map((o) => [o.key, o.size])).toEqual([[key, bytes]]);
    expect(await objectSha("ecom-archive", key)).toBe(sha);
    const archiveDb = await openDb(archiveDir);
    try {
      expect(logRows(archiveDb)).toEqual({ orders, payments: orders });
    } finally {
      archiveDb.close();
    }
    console.log(`50 MB S3 test: ${bytes} bytes, ${2 * orders} records; generate+upload ${((generated - started) / 1000).toFixed(1)} s, ` +
      `produce from s3:// ${((t1 - t0) / 1000).toFixed(1)} s, produce --archive ${((t3 - t2) / 1000).toFixed(1)} s`);
  }, 240_000);
});
