#!/usr/bin/env bun
// The composition root: flags/env/config → one frozen Config → the command or the roles it names.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { createApi } from "./api/app.ts";
import { helpText, parseCli } from "./config/cli.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { createLogger } from "./log.ts";
import { openBase, startPipeline } from "./runtime.ts";
import { streamLength } from "./roles/producer.ts";
import { startTotals } from "./totals.ts";
import { VERSION } from "./version.ts";
import { dlqCommand } from "./cli/dlq.ts";
import { produceFromFile } from "./cli/produce.ts";
import { migrateCommand, provisionCommand, teardownCommand } from "./cli/provision.ts";

async function runPipeline(config: ReturnType<typeof loadConfig>): Promise<number> {
  const log = createLogger(config.logLevel);
  await checkHost(config.host, config.port);
  const base = await openBase(config, log);
  // The HTTP port is bound before any role starts: a taken port or a bad host stops ecom before it produces or
  // consumes anything, with the setting named.
  const api = createApi(base.ctx, { version: VERSION, roles: config.roles, startedAt: Date.now() });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: config.host, port: config.port, fetch: api.fetch, maxRequestBodySize: 1024 * 1024 });
  } catch (error) {
    await base.close();
    throw new ConfigError(`cannot serve HTTP on --host=${config.host} --port=${config.port}: ${bindReason(error)}`);
  }
  const bar = await progressBar(config, base.ctx);
  const pipeline = await startPipeline(base, bar ? { onProgress: (n) => bar.update(n) } : undefined, { instance: `${hostname()}:${server.port}` });
  log.info({ url: `http://${config.host}:${server.port}`, roles: config.roles, transport: config.transport, store: config.store, data_dir: config.dataDir, version: VERSION }, "ecom started");
  let drawing = bar !== null;
  pipeline.producer?.done?.then(() => {
    bar?.stop();
    drawing = false;
  });
  // On a terminal the per-order lines are off by default: a line of totals tells what flows instead.
  const totals = process.stdout.isTTY && !config.logOrders && config.totalsIntervalMs > 0
    ? startTotals({
        everyMs: config.totalsIntervalMs,
        snapshot: () => api.live.newest,
        pendingDeadLetters: async () => (await base.ctx.store.deadLetterCounts()).pending,
        write: (line) => process.stdout.write(`${line}\n`),
        paused: () => drawing,
      })
    : null;

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down: finishing in-flight work and flushing the outbox");
      const force = setTimeout(() => {
        log.warn({ grace_ms: config.shutdownGraceMs }, "shutdown grace elapsed; exiting (unacknowledged messages will be redelivered)");
        resolve(0);
      }, config.shutdownGraceMs + 1000);
      server.stop(true);
      api.live.stop();
      totals?.stop();
      bar?.stop();
      let code = 0;
      try {
        await pipeline.stop();
        log.info({ outbox: "flushed" }, "stopped");
      } catch (error) {
        // Nothing acknowledged is lost (what was not acked is redelivered), but the stop was not clean: say so.
        log.error({ err: error }, "error during shutdown");
        code = 1;
      }
      clearTimeout(force);
      resolve(code);
    };
    process.on("SIGINT", () => void shutdown("SIGINT"));
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
  });
}

/** Fails with the setting named when --host is neither an IP address nor a name that resolves (Bun.serve would blame the port). */
async function checkHost(host: string, port: number): Promise<void> {
  if (isIP(host)) return;
  try {
    await lookup(host);
  } catch {
    throw new ConfigError(`cannot serve HTTP on --host=${host} --port=${port}: the host is neither an IP address nor a name that resolves`);
  }
}

/** Why Bun.serve could not bind: the system's error code in words where it has one (Bun's own message guesses "port in use"). */
function bindReason(error: unknown): string {
  const code = (error as { code?: string }).code;
  const known: Record<string, string> = {
    EADDRINUSE: "the port is already in use",
    EADDRNOTAVAIL: "the host is not an address of this machine",
    EACCES: "permission denied (ports below 1024 need privileges)",
  };
  return (code && known[code]) ?? (code ? `${code}: ${(error as Error).message}` : (error as Error).message);
}

/** A progress bar on a TTY for capped producer runs. */
async function progressBar(config: ReturnType<typeof loadConfig>, ctx: Parameters<typeof streamLength>[0]) {
  const total = config.roles.includes("producer") ? streamLength(ctx) : null;
  if (!total || !config.producer.progress || !process.stderr.isTTY) return null;
  const { SingleBar, Presets } = await import("cli-progress");
  const bar = new SingleBar({ format: "producing [{bar}] {percentage}% | {value}/{total} messages | {eta_formatted} left", stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0);
  return bar;
}

export async function main(argv: string[]): Promise<number> {
  const cli = parseCli(argv);
  if (cli.options.help) {
    console.log(helpText(VERSION));
    return 0;
  }
  if (cli.options.version) {
    console.log(VERSION);
    return 0;
  }
  // Under Lambda (or its emulator) the binary is the function's bootstrap: `ecom` alone serves the Runtime API.
  if (cli.command === "lambda" || (cli.command === null && process.env.AWS_LAMBDA_RUNTIME_API)) {
    const { runLambda } = await import("./lambda/index.ts");
    return runLambda(cli.flags, process.env);
  }
  const config = loadConfig({ flags: cli.flags, env: process.env, tty: process.stdout.isTTY === true });
  switch (cli.command) {
    case null:
    case "run":
      return runPipeline(config);
    case "produce":
      return produceFromFile(config, cli.options);
    case "provision":
      return provisionCommand(config, cli.options);
    case "teardown":
      return teardownCommand(config, cli.options);
    case "migrate":
      return migrateCommand(config);
    case "dlq":
      return dlqCommand(config, cli.args, cli.options);
    default:
      throw new ConfigError(`unknown command ${JSON.stringify(cli.command)}; commands: produce, provision, teardown, migrate, dlq, lambda (see ecom --help)`);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      if (error instanceof ConfigError) {
        console.error(`ecom: ${error.message}`);
        process.exit(2);
      }
      console.error(`ecom: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}
