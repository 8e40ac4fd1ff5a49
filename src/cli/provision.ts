// `ecom provision`, `ecom teardown --yes`, `ecom migrate`.
import type { Config } from "../config/types.ts";
import { ConfigError } from "../config/load.ts";
import { openDataDir } from "../runtime.ts";
import { createLogger } from "../log.ts";
import { provisionAlarms } from "./alarms.ts";
import { createStore } from "../store/index.ts";
import { tableNames } from "../store/dynamodb/names.ts";
import { stepLine } from "../store/types.ts";
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

export function provisionCommand(config: Readonly<Config>, options: Record<string, unknown> = {}): Promise<number> {
  return withPorts(config, async ({ transport, store }) => {
    for (const step of [...(await transport.provision()), ...(await store.migrate())]) console.log(stepLine(step));
    if (options.lambda) {
      const { provisionEventSources } = await import("../lambda/provision.ts");
      for (const step of await provisionEventSources(config)) console.log(stepLine(step));
    }
    if (options.alarms) for (const step of await provisionAlarms(config)) console.log(stepLine(step));
    return 0;
  });
}

export function teardownCommand(config: Readonly<Config>, options: Record<string, unknown>): Promise<number> {
  const what = { local: "local queue", "sns-sqs": "SNS topics, SQS queues and subscriptions", pubsub: "Pub/Sub topics and subscriptions" }[config.transport];
  if (!options.yes) throw new ConfigError(`teardown removes the ${what}: confirm with --yes`);
  return withPorts(config, async ({ transport }) => {
    for (const step of await transport.teardown()) console.log(stepLine(step));
    // The store holds the facts and dead letters: teardown never drops it.
    if (config.store === "cassandra") console.log(stepLine({ action: "kept", resource: `cassandra keyspace ${config.cassandra.keyspace}`, note: "its data stays; DROP KEYSPACE to remove it" }));
    if (config.store === "dynamodb") {
      for (const table of Object.values(tableNames(config.dynamodb.tablePrefix))) {
        console.log(stepLine({ action: "kept", resource: `dynamodb table ${table}`, note: "its data stays; aws dynamodb delete-table to remove it" }));
      }
    }
    return 0;
  });
}

export async function migrateCommand(config: Readonly<Config>): Promise<number> {
  const log = createLogger("warn", 2);
  const handle = await openDataDir(config);
  try {
    console.log(`sqlite   ${handle.path}: migrations applied`);
    if (config.store !== "sqlite") {
      const store = await createStore(config, handle, log);
      try {
        for (const step of await store.migrate()) console.log(stepLine(step));
      } finally {
        await store.close();
      }
    }
    return 0;
  } finally {
    handle.close();
  }
}
