// `ecom provision`, `ecom teardown --yes`, `ecom migrate`.
import type { Config } from "../config/types.ts";
import { ConfigError } from "../config/load.ts";
import { openDataDir } from "../runtime.ts";
import { createLogger } from "../log.ts";
import { createStore } from "../store/index.ts";
import { createTransport } from "../transport/index.ts";

async function withPorts<T>(config: Readonly<Config>, fn: (p: { transport: Awaited<ReturnType<typeof createTransport>>; store: Awaited<ReturnType<typeof createStore>> }) => Promise<T>): Promise<T> {
  const log = createLogger(config.logLevel === "info" ? "warn" : config.logLevel, 2);
  const handle = await openDataDir(config);
  const transport = await createTransport(config, handle, log);
  const store = await createStore(config, handle, log);
  try {
    return await fn({ transport, store });
  } finally {
    await transport.close().catch(() => {});
    await store.close().catch(() => {});
    handle.close();
  }
}

export function provisionCommand(config: Readonly<Config>): Promise<number> {
  return withPorts(config, async ({ transport, store }) => {
    for (const step of await transport.provision()) console.log(`${step.action.padEnd(8)} ${step.resource}`);
    for (const line of await store.migrate()) console.log(`store    ${line}`);
    return 0;
  });
}

export function teardownCommand(config: Readonly<Config>, options: Record<string, unknown>): Promise<number> {
  if (!options.yes) throw new ConfigError(`teardown removes the ${config.transport} topics, queues and subscriptions: confirm with --yes`);
  return withPorts(config, async ({ transport }) => {
    for (const step of await transport.teardown()) console.log(`${step.action.padEnd(8)} ${step.resource}`);
    return 0;
  });
}

export async function migrateCommand(config: Readonly<Config>): Promise<number> {
  const log = createLogger("warn", 2);
  const handle = await openDataDir(config);
  try {
    console.log(`sqlite   ${handle.path}: migrations applied`);
    if (config.store === "cassandra") {
      const store = await createStore(config, handle, log);
      try {
        for (const line of await store.migrate()) console.log(`cassandra ${line}`);
      } finally {
        await store.close();
      }
    }
    return 0;
  } finally {
    handle.close();
  }
}
