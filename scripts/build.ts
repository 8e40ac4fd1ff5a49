// Builds the single executable ./ecom: version injected by --define, SQLite migrations and the CQL schema embedded.
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { stderr: "ignore" }).stdout.toString().trim();
const version = commit ? `${pkg.version}+${commit}` : pkg.version;
const outfile = process.argv[2] ?? "./ecom";

const args = [
  process.execPath, "build", "--compile", "--minify-syntax", "--minify-whitespace",
  "src/main.ts", "--outfile", outfile,
  "--define", `ECOM_VERSION=${JSON.stringify(version)}`,
  // better-sqlite3 serves the Node path only; the binary uses bun:sqlite.
  "--external", "better-sqlite3", "--external", "drizzle-orm/better-sqlite3",
];
const result = Bun.spawnSync(args, { stdout: "inherit", stderr: "inherit", cwd: new URL("..", import.meta.url).pathname });
if (result.exitCode !== 0) process.exit(result.exitCode ?? 1);
console.log(`built ${outfile} (ecom ${version})`);
