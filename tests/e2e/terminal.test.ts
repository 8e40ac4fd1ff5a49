// The demo's terminal: on a TTY a line of totals every few seconds instead of one JSON line per order; per-order lines
// with --log-orders=true, and off a TTY (logs piped to a file or a collector).
import { describe, expect, test } from "bun:test";
import { BINARY, spawnCaptured, startEcom, tempDir } from "../helpers/ecom.ts";
import { waitFor } from "../helpers/wait.ts";

const TOTALS = /^\d\d:\d\d:\d\d {2}producer \d+ \(\d+\.\d\/s\) {2}order \d+ .* {2}dead letters pending \d+ {2}outbox \d+ {2}p50 .* p99 .*$/m;
const ORDER_LINE = /"event":"order"/;

/** ecom under `script`, which gives it a pseudo-terminal as stdout. */
function onTerminal(...args: string[]) {
  const command = [BINARY, "--role=all", "--rate=20", "--port=0", "--log-level=info", "--totals-interval=1s", `--data-dir=${tempDir()}`, ...args].join(" ");
  return spawnCaptured(["script", "-qfec", command, "/dev/null"]);
}

describe("the terminal", () => {
  test("on a TTY: totals lines, no per-order lines; --log-orders=true brings them back (and no totals); piped: per-order lines", async () => {
    const quiet = onTerminal();
    const verbose = onTerminal("--log-orders=true");
    const piped = await startEcom(["--role=all", "--rate=20", "--log-level=info", "--totals-interval=1s", `--data-dir=${tempDir()}`]);
    try {
      await waitFor("two lines of totals", () => (quiet.output().match(new RegExp(TOTALS.source, "gm")) ?? []).length >= 2, { timeoutMs: 30_000 });
      await waitFor("per-order lines on the verbose terminal", () => (verbose.output().match(/"event":"order"/g) ?? []).length >= 10, { timeoutMs: 30_000 });
      await waitFor("per-order lines in the pipe", () => (piped.output().match(/"event":"order"/g) ?? []).length >= 10, { timeoutMs: 30_000 });
      // By now each has run for over two totals intervals.
      expect(quiet.output()).not.toMatch(ORDER_LINE);
      expect(quiet.output()).toContain('"msg":"ecom started"');
      expect(verbose.output()).not.toMatch(TOTALS);
      expect(piped.output()).not.toMatch(TOTALS);
      const line = quiet.output().match(TOTALS)![0];
      expect(line).toContain("payment ");
      expect(line).toContain(" matched ");
    } finally {
      quiet.proc.kill("SIGTERM");
      verbose.proc.kill("SIGTERM");
      await Promise.all([quiet.proc.exited, verbose.proc.exited]);
      expect(await piped.stop()).toBe(0);
    }
  }, 90_000);
});
