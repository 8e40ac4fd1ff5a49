// `bun bench/cloudwatch.ts [--minutes=3] [--interval=60s]`: CloudWatch requests per minute of a running --role=all,
// counted by an HTTP proxy in front of moto (ECOM_MOTO_PORT, default 5000), with the data points per request.
import { rmSync } from "node:fs";
import { BINARY, freePort, spawnCaptured, tempDir } from "../tests/helpers/ecom.ts";
import { waitFor } from "../tests/helpers/wait.ts";

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const minutes = Number(arg("minutes", "3"));
const interval = arg("interval", "60s");
const moto = `http://127.0.0.1:${process.env.ECOM_MOTO_PORT ?? 5000}`;

const counts = { requests: 0, bytes: 0, byOperation: new Map<string, number>(), at: [] as number[] };
const proxy = Bun.serve({
  port: await freePort(),
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url);
    const body = await req.arrayBuffer();
    counts.requests++;
    counts.at.push(performance.now());
    counts.bytes += body.byteLength;
    // rpc-v2-cbor puts the operation in the path; the query protocol in the form body.
    const op = /\/operation\/([A-Za-z]+)/.exec(url.pathname)?.[1] ?? /Action=([A-Za-z]+)/.exec(new TextDecoder().decode(body))?.[1] ?? req.headers.get("x-amz-target") ?? "?";
    counts.byOperation.set(op, (counts.byOperation.get(op) ?? 0) + 1);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const res = await fetch(`${moto}${url.pathname}${url.search}`, { method: req.method, headers, body: body.byteLength ? body : undefined });
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
  },
});

const dir = tempDir("ecom-bench-cw-");
const namespace = `bench-${Date.now().toString(36)}`;
const port = await freePort();
const env = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "test", AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "test" };
const app = spawnCaptured([BINARY, "--role=all", `--data-dir=${dir}`, `--port=${port}`, "--rate=100", "--log-level=warn", "--no-log-orders",
  "--cloudwatch", `--cloudwatch-interval=${interval}`, `--cloudwatch-namespace=${namespace}`, `--aws-cloudwatch-endpoint=http://127.0.0.1:${proxy.port}`], env);
await waitFor("ecom up", async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, { timeoutMs: 60_000 });
await Bun.sleep(minutes * 60_000);
// The rate between the first and the last request seen (ticks come on the interval's clock, not the bench's).
const { requests, bytes, at } = counts;
const elapsedMin = at.length > 1 ? (at.at(-1)! - at[0]!) / 60_000 : NaN;
const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
app.proc.kill("SIGTERM");
await app.proc.exited;
proxy.stop(true);
rmSync(dir, { recursive: true, force: true });
console.log(`cloudwatch bench: --role=all --rate=100 --cloudwatch-interval=${interval}`);
console.log(`  ${requests} CloudWatch requests in ${minutes} min; between the first and the last ${((requests - 1) / elapsedMin).toFixed(2)} per minute; ` +
  `${(bytes / Math.max(1, requests) / 1024).toFixed(1)} KiB per request (body as sent)`);
console.log(`  by operation: ${[...counts.byOperation].map(([k, v]) => `${k} ${v}`).join(", ")}`);
console.log(`  orders produced ${status.counters.producer.orders}, order role processed ${status.counters.order.processed}`);
