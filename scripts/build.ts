// Builds the single executable ./ecom: version injected by --define, SQLite migrations, the CQL schema and the console embedded.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { bundleConsole } from "../src/console/bundle.ts";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { stderr: "ignore" }).stdout.toString().trim();
const version = commit ? `${pkg.version}+${commit}` : pkg.version;
const outfile = process.argv[2] ?? "./ecom";
// --target=bun-linux-arm64 and the like cross-compile (build:lambda); none builds for this machine.
const target = process.argv.slice(3).find((a) => a.startsWith("--target="));

// The console's script and styles, bundled first and embedded by src/console/assets.ts.
const root = new URL("..", import.meta.url).pathname;
const bundle = await bundleConsole();
mkdirSync(`${root}.build/console`, { recursive: true });
writeFileSync(`${root}.build/console/app.js.txt`, bundle.js);
writeFileSync(`${root}.build/console/app.css.txt`, bundle.css);
const kb = (text: string) => `${(Buffer.byteLength(text) / 1024).toFixed(1)} KiB (${(gzipSync(text).length / 1024).toFixed(1)} KiB gzipped)`;
console.log(`console: script ${kb(bundle.js)}, styles ${kb(bundle.css)}`);

const args = [
  process.execPath, "build", "--compile", "--minify-syntax", "--minify-whitespace",
  "src/main.ts", "--outfile", outfile,
  "--define", `ECOM_VERSION=${JSON.stringify(version)}`,
  "--define", "ECOM_CONSOLE_BUNDLED=true",
  // better-sqlite3 serves the Node path only; the binary uses bun:sqlite.
  "--external", "better-sqlite3", "--external", "drizzle-orm/better-sqlite3",
  ...(target ? [target] : []),
];
const result = Bun.spawnSync(args, { stdout: "inherit", stderr: "inherit", cwd: root });
if (result.exitCode !== 0) process.exit(result.exitCode ?? 1);
console.log(`built ${outfile} (ecom ${version}${target ? `, ${target.slice(9)}` : ""})`);
