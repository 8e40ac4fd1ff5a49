// Drives the compiled ./ecom binary as a subprocess: start, query its API, signal, kill -9.
import { createServer } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { waitFor } from "./wait.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const BINARY = join(ROOT, "ecom");

export function tempDir(prefix = "ecom-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Running {
  url: string;
  port: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  get<T = any>(path: string): Promise<T>;
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: "SIGTERM" | "SIGINT"): Promise<number>;
  kill9(): Promise<void>;
}

/** A subprocess (cwd: the repo root) whose stdout and stderr are collected as they come, and that can be killed -9. */
export function spawnCaptured(cmd: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out += decoder.decode(chunk);
  };
  return {
    proc,
    /** Everything the process wrote to stdout and stderr so far. */
    output: () => out,
    /** Settles once both streams ended. */
    pumped: Promise.all([pump(proc.stdout), pump(proc.stderr)]),
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

/** Starts ./ecom with `args` (plus --port and --log-level unless given) and waits until /healthz answers. */
export async function startEcom(args: string[], env: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const full = [...args];
  if (!full.some((a) => a.startsWith("--port"))) full.push(`--port=${port}`);
  // ECOM_TEST_LOG_LEVEL (e.g. info) makes a looped run's output() say more when it fails.
  if (!full.some((a) => a.startsWith("--log-level"))) full.push(`--log-level=${process.env.ECOM_TEST_LOG_LEVEL ?? "warn"}`);
  const actualPort = Number(full.find((a) => a.startsWith("--port="))!.slice(7));
  const { proc, output, pumped, kill9 } = spawnCaptured([BINARY, ...full], env);
  // ECOM_TEST_OUTPUT_DIR keeps every process's whole output there once it exits (looped runs that pass, too).
  if (process.env.ECOM_TEST_OUTPUT_DIR) void pumped.then(() => writeFileSync(join(process.env.ECOM_TEST_OUTPUT_DIR!, `ecom-${Date.now()}-${port}.log`), output()));
  const url = `http://127.0.0.1:${actualPort}`;
  const running: Running = {
    url,
    port: actualPort,
    proc,
    output,
    async get(path) {
      const res = await fetch(url + path);
      if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
      return res.json();
    },
    request: (path, init) => fetch(url + path, init),
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      return proc.exited;
    },
    kill9,
  };
  await waitFor(`ecom on ${url} (args ${full.join(" ")})`, async () => {
    if (proc.exitCode !== null) throw new Error(`ecom exited with ${proc.exitCode}: ${output().slice(-2000)}`);
    return (await fetch(url + "/healthz")).ok;
  }, { timeoutMs: 30_000 });
  return running;
}

/** Runs ./ecom to completion (subcommands). */
export async function runEcom(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BINARY, ...args], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Every dead letter of a status, following cursors. */
export async function allDeadLetters(app: Running, status = "pending"): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: any[]; next: string | null } = await app.get(`/dlq?status=${status}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}
