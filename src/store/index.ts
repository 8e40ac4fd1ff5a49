// Picks the store named by the config; the Cassandra driver and the DynamoDB SDK load only when chosen.
import type { Config } from "../config/types.ts";
import type { DbHandle } from "../db/open.ts";
import type { Logger } from "../log.ts";
import { createSqliteStore } from "./sqlite.ts";
import type { Store } from "./types.ts";

export * from "./types.ts";
export { createSqliteStore, factTotals } from "./sqlite.ts";

export async function createStore(config: Readonly<Config>, handle: DbHandle, logger: Logger): Promise<Store> {
  if (config.store === "sqlite") return createSqliteStore(handle);
  if (config.store === "dynamodb") {
    const { createDynamoStore } = await import("./dynamodb/index.ts");
    return createDynamoStore(config.dynamodb);
  }
  const { createCassandraStore } = await import("./cassandra/index.ts");
  return createCassandraStore(config.cassandra, { logger });
}
