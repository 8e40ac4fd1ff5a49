// Test preload: build the binary once when its sources changed (end-to-end tests spawn ./ecom).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const binary = join(root, "ecom");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const stale = !existsSync(binary) || statSync(binary).mtimeMs < Math.max(newestSource(join(root, "src")), statSync(join(root, "cassandra", "schema.cql")).mtimeMs);
if (stale && process.env.ECOM_SKIP_BUILD !== "1") {
  const build = Bun.spawnSync([process.execPath, "run", "build"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`bun run build failed:\n${build.stderr.toString()}`);
}
