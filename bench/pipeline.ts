// Runs the pipeline in this process on a fresh data dir and measures it end to end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.ts";
import { createLogger } from "../src/log.ts";
import type { Config } from "../src/config/types.ts";
import { openBase, startPipeline } from "../src/runtime.ts";
import { cpuMeter, waitForQuietServer, type CpuSpent } from "./cpu.ts";

export interface PipelineResult {
  orders: number;
  payments: number;
  seconds: number;
  ordersPerSec: number;
  paymentsPerSec: number;
  messagesPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  peakRssMb: number;
  /** CPU spent from start to finish by this process and by the server of `serverPid`. */
  cpu: CpuSpent;
  /** How the payments found their orders: matched by the payment role, or dead-lettered unmatched and reconciled later. */
  matched: number;
  reconciled: number;
  /** Seconds waited for the server to idle before the run (null: no server measured), and whether it did. */
  serverQuiet: { waitedS: number; quiet: boolean } | null;
}

/** Settings for a bench run: the caller's flags plus the run's own data dir and caps. */
export function benchConfig(flags: Record<string, unknown>, n: number, dataDir: string): Readonly<Config> {
  return loadConfig({
    flags: { "log-level": "info", rate: "0", "unmatched-ratio": "0", "duplicate-ratio": "0", ...flags, orders: String(n), payments: String(n), "data-dir": dataDir, port: "0" },
    env: process.env,
  });
}

export async function runPipeline(
  flags: Record<string, unknown>,
  n: number,
  prepare?: (config: Readonly<Config>) => Promise<void>,
  serverPid: number | null = null,
): Promise<PipelineResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "ecom-bench-"));
  const config = benchConfig(flags, n, dataDir);
  await prepare?.(config);
  // The product's logger (redaction, timestamps) writing its real JSON lines (one per analytics order) to /dev/null.
  const log = createLogger("info", "/dev/null");
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 25);
  const base = await openBase(config, log);
  const serverQuiet = await waitForQuietServer(serverPid);
  const started = performance.now();
  const spent = cpuMeter(serverPid);
  const pipeline = await startPipeline(base);
  const { counters } = base.ctx;
  const deadline = Date.now() + 600_000;
  for (;;) {
    const o = counters.get("order").processed ?? 0;
    const p = (counters.get("payment").matched ?? 0) + (counters.get("dlq").reconciled ?? 0);
    const a = counters.get("analytics").processed ?? 0;
    if (o >= n && p >= n && a >= n) break;
    if (Date.now() > deadline) throw new Error(`bench did not finish: orders ${o}, payments ${p}, analytics ${a} of ${n}`);
    await Bun.sleep(5);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = spent();
  const { metrics } = base.ctx;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const result: PipelineResult = {
    orders: n,
    payments: n,
    seconds,
    ordersPerSec: n / seconds,
    paymentsPerSec: n / seconds,
    messagesPerSec: (2 * n) / seconds,
    p50Ms: metrics.percentile(50),
    p99Ms: metrics.percentile(99),
    peakRssMb: peakRss / 1024 / 1024,
    cpu,
    matched: counters.get("payment").matched ?? 0,
    reconciled: counters.get("dlq").reconciled ?? 0,
    serverQuiet,
  };
  await pipeline.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return result;
}

/** The producer rate (messages/s) of the half-load run: half of what the measured run moved end to end. */
export const halfRate = (measured: PipelineResult) => Math.max(1, Math.round(measured.messagesPerSec / 2));

/** `flags` with the producer paced at `rate` messages/s (the half-load run: latency with no backlog). */
export const paced = (flags: Record<string, unknown>, rate: number) => ({ ...flags, rate: String(rate) });

/** Warm-up runs at most; the bench measures once two in a row agree within SETTLED. */
const MAX_WARMUPS = 4;
const SETTLED = 0.1;

/**
 * Runs `run` until two warm-ups in a row agree within SETTLED on orders/s (at most MAX_WARMUPS), so the measured run
 * sees a steady process and server, as a long-running ecom would. One short warm-up was not enough: on Pub/Sub, runs
 * of 10k + 10k in one process went 10,227 / 11,643 / 15,335 / 15,256 / 15,660 messages/s, ecom's CPU per message
 * 130 / 80 / 67 / 67 / 71 us (its JIT still compiling), and the bench had measured the second. Returns how many ran.
 */
export async function warmUp(run: () => Promise<PipelineResult>): Promise<number> {
  let previous: number | null = null;
  for (let i = 1; i <= MAX_WARMUPS; i++) {
    const rate = (await run()).ordersPerSec;
    if (previous !== null && Math.abs(rate - previous) <= SETTLED * previous) return i;
    previous = rate;
  }
  return MAX_WARMUPS;
}
