// A data dir that cannot be written (a small tmpfs filled up): /readyz says so, /status keeps its counters and says
// since when they are stale, and once there is room again the run ends exact.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectedRun } from "../helpers/expected.ts";
import { startEcom, type Running } from "../helpers/ecom.ts";
import { verifyFinal, waitForCompletion } from "../helpers/verify.ts";
import { waitFor } from "../helpers/wait.ts";

const SEED = 23;
const ORDERS = 2000;
const RUN = [`--orders=${ORDERS}`, `--payments=${ORDERS}`, "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", "--rate=300", `--seed=${SEED}`];
const exp = expectedRun({ seed: SEED, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, ORDERS, ORDERS);

const isRoot = process.getuid?.() === 0;
const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
const mountPoint = mkdtempSync(join(tmpdir(), "ecom-full-"));
const sh = (...args: string[]) => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed (${r.status}): ${r.stderr}`);
};
let mounted = false;
if (isRoot) {
  sh("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint);
  mounted = true;
} else {
  console.warn("SKIP: the full data dir test mounts a tmpfs, which needs root");
}

afterAll(() => {
  if (mounted) spawnSync("umount", ["-l", mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Fills the file system with one file until it refuses more; returns its path. */
function fill(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
  // Page by page, what the big chunks left.
  const small = openSync(path, "a");
  try {
    for (;;) writeSync(small, Buffer.alloc(512, 1));
  } catch {
  } finally {
    closeSync(small);
  }
  return path;
}

describe.skipIf(!isRoot)("a data dir that cannot be written", () => {
  test("disk full: /readyz 503 naming the cause, /status counters stale since then; afterwards the run ends exact", async () => {
    const dir = join(mountPoint, "data");
    let app: Running | null = null;
    try {
      app = await startEcom(["--role=all", ...RUN, `--data-dir=${dir}`]);
      expect(await app.get("/readyz")).toMatchObject({ ready: true, data_dir: "ok" });
      await waitFor("processing under way", async () => (await app!.get("/status")).counters.order.processed >= 300, { timeoutMs: 60_000 });

      const filler = fill(mountPoint);
      const full = await waitFor("/readyz 503", async () => {
        const res = await app!.request("/readyz");
        return res.status === 503 ? res.json() : null;
      }, { timeoutMs: 15_000, intervalMs: 100 });
      expect(full.ready).toBe(false);
      expect(full.data_dir).toContain(`cannot write ${dir}`);
      expect(full.data_dir).toMatch(/no space left on device|ENOSPC|disk is full/i);
      expect([full.transport, full.store]).toEqual(["ok", "ok"]);
      const stale = await waitFor("counters marked stale", async () => {
        const s = await app!.get("/status");
        return s.counters_stale ? s : null;
      }, { timeoutMs: 15_000, intervalMs: 100 });
      const since = Date.parse(stale.counters_stale.since);
      expect(Math.abs(Date.now() - since)).toBeLessThan(20_000);
      expect(stale.counters_stale.reason).toMatch(/full|no space/i);
      // The counters are still shown, and the failure stays on record (since unchanged) while the disk is full, though
      // SQLite may still fit some writes into WAL pages it already has.
      expect(stale.counters.order.processed).toBeGreaterThanOrEqual(300);
      const later = await waitFor("a second later", async () => {
        await Bun.sleep(1100);
        return app!.get("/status");
      });
      expect(later.counters_stale).toEqual(stale.counters_stale);
      expect((await app.request("/readyz")).status).toBe(503);
      expect((await app.request("/healthz")).status).toBe(200);
      // Kept full until the pipeline's own SQLite writes are refused (the WAL can take no more): consumers hold
      // their messages and try again, and none of that may be lost once there is room.
      const metrics = await waitFor("the pipeline's writes refused", async () => {
        const text = await (await app!.request("/metrics")).text();
        return metric(text, "ecom_data_dir_refused_writes_total") >= 3 ? text : null;
      }, { timeoutMs: 60_000, intervalMs: 250 });
      expect(metric(metrics, "ecom_data_dir_writable")).toBe(0);
      const held = await app.get("/status");
      expect(held.counters_stale.since).toBe(stale.counters_stale.since);
      expect(held.counters.order.processed).toBeLessThan(ORDERS);

      // Room again: ready, current, and the held messages are processed.
      rmSync(filler);
      await waitFor("/readyz 200 with room again", async () => (await app!.request("/readyz")).status === 200, { timeoutMs: 15_000, intervalMs: 100 });
      await waitFor("counters current again", async () => (await app!.get("/status")).counters_stale === null, { timeoutMs: 15_000, intervalMs: 100 });

      expect(metric(await (await app.request("/metrics")).text(), "ecom_data_dir_writable")).toBe(1);
      await waitForCompletion(app, exp);
      const status = await verifyFinal(app, exp, SEED);
      expect(status.counters_stale).toBeNull();
      expect(status.counters.order.failed + status.counters.payment.failed + status.counters.analytics.failed).toBe(0);
      expect(await app.stop()).toBe(0);
    } finally {
      app?.proc.kill("SIGKILL");
    }
  }, 240_000);
});
