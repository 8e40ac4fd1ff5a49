// `bun bench/s3.ts [--mb=50] [--record=small|large]`: produce --from-file of one file from local disk, from s3:// and with
// --archive (multipart), in the same run on moto (ECOM_MOTO_PORT, default 5000): wall time and peak RSS of each.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { BINARY, tempDir } from "../tests/helpers/ecom.ts";

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const mb = Number(arg("mb", "50"));
const large = arg("record", "small") === "large";
const moto = `http://127.0.0.1:${process.env.ECOM_MOTO_PORT ?? 5000}`;
const env = { ...process.env, AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "test", AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "test" };
const s3 = new S3Client({ region: "us-east-1", endpoint: moto, forcePathStyle: true, credentials: { accessKeyId: "test", secretAccessKey: "test" } });

const work = tempDir("ecom-bench-s3-");
const path = join(work, "big.ndjson");
const out = createWriteStream(path);
const padding = large ? ", " + "Building C, Suite 400, attention of the receiving dock, ".repeat(32) : "";
let bytes = 0;
let records = 0;
for (let id = 1; bytes < mb * 1024 * 1024; id++) {
  const line =
    JSON.stringify({ order_id: id, customer_id: id % 977, item: "Laptop", quantity: 1, price: 10 + (id % 500), shipping_address: `${id} Elm St${padding}`, order_status: "pending", creation_date: "2026-03-04T05:06:07.000Z" }) + "\n" +
    JSON.stringify({ payment_id: 1e9 + id, order_id: id, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-03-04T05:07:08.000Z" }) + "\n";
  bytes += line.length;
  records += 2;
  if (!out.write(line)) await new Promise((r) => out.once("drain", r));
}
await new Promise((r) => out.end(r));
const bucket = `bench-${Date.now().toString(36)}`;
await s3.send(new CreateBucketCommand({ Bucket: bucket }));
await new Upload({ client: s3, params: { Bucket: bucket, Key: "big.ndjson", Body: createReadStream(path) } }).done();
const sha = createHash("sha256");
for await (const c of createReadStream(path)) sha.update(c);

async function run(label: string, args: string[]) {
  const dir = tempDir("ecom-bench-s3-dir-");
  const t0 = performance.now();
  const proc = Bun.spawn([BINARY, "produce", ...args, `--data-dir=${dir}`, `--aws-endpoint=${moto}`], { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const seconds = (performance.now() - t0) / 1000;
  const rss = (proc.resourceUsage()?.maxRSS ?? 0) / 1024; // bytes -> KiB -> MiB below
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`${label}: exit ${code}: ${stderr}`);
  console.log(`  ${label.padEnd(34)} ${seconds.toFixed(1).padStart(6)} s  ${(records / seconds).toFixed(0).padStart(7)} records/s  peak RSS ${(rss / 1024).toFixed(0)} MB  | ${stdout.trim().split("\n").at(-1)}`);
}

console.log(`s3 bench: ${statSync(path).size} bytes, ${records} records (${large ? "~2.2 KB" : "~200 B"} each), cores=${navigator.hardwareConcurrency}`);
await run("produce --from-file (local)", ["--from-file", path]);
await run("produce --from-file s3://", ["--from-file", `s3://${bucket}/big.ndjson`]);
await run("produce --from-file (local) --archive", ["--from-file", path, `--archive=s3://${bucket}/raw/`]);
await run("produce --from-file (local) again", ["--from-file", path]);
rmSync(work, { recursive: true, force: true });
