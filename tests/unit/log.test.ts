import { expect, test } from "bun:test";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");

// Lines are coalesced per event-loop turn; a process that exits right after logging must still write every line, in order.
test("every line reaches stdout in order, also when the process exits in the same turn", async () => {
  const script = `
    import { createLogger } from ${JSON.stringify(join(root, "src/log.ts"))};
    const log = createLogger("info");
    for (let i = 0; i < 3000; i++) log.info({ i, card_number: "4111111111111111" }, "line");
    await new Promise((r) => setImmediate(r));
    for (let i = 3000; i < 5000; i++) log.info({ i }, "line");
    process.exit(0);
  `;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", cwd: root });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const lines = out.trimEnd().split("\n").map((l) => JSON.parse(l) as { i: number; card_number?: string; msg: string });
  expect(lines.length).toBe(5000);
  expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  expect(lines[0]!.card_number).toBe("[redacted]");
  expect(out).not.toContain("4111111111111111");
});
