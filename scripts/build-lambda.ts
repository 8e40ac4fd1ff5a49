// `npm run build:lambda`: the Lambda deployment zips for provided.al2023, each holding the binary as `bootstrap`.
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zip } from "./zip.ts";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "dist", "lambda");
// Lambda's two architectures; Bun cross-compiles each (fetching that target's runtime the first time).
const TARGETS = [
  { arch: "x86_64", bun: "bun-linux-x64" },
  { arch: "arm64", bun: "bun-linux-arm64" },
] as const;
const only = process.argv.slice(2).find((a) => a.startsWith("--arch="))?.slice(7);

mkdirSync(out, { recursive: true });
for (const target of TARGETS.filter((t) => !only || t.arch === only)) {
  const binary = join(out, `bootstrap-${target.arch}`);
  const cmd = [process.execPath, join(root, "scripts", "build.ts"), binary, `--target=${target.bun}`];
  const build = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit", cwd: root });
  if (build.exitCode !== 0) {
    console.error(`build:lambda: ${target.arch} (${target.bun}) did not build`);
    process.exit(build.exitCode ?? 1);
  }
  chmodSync(binary, 0o755);
  const archive = join(out, `ecom-lambda-${target.arch}.zip`);
  const t0 = performance.now();
  writeFileSync(archive, zip([{ name: "bootstrap", data: readFileSync(binary), mode: 0o755 }]));
  const mb = (p: string) => (statSync(p).size / 1e6).toFixed(1);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`wrote ${archive} (${mb(archive)} MB; bootstrap ${mb(binary)} MB, zipped in ${seconds} s)`);
  rmSync(binary);
}
