// Picks the transport named by the config; broker SDKs load only when chosen.
import type { Config } from "../config/types.ts";
import type { DbHandle } from "../db/open.ts";
import type { Logger } from "../log.ts";
import { createLocalTransport } from "./local.ts";
import type { Transport } from "./types.ts";

export * from "./types.ts";
export { createLocalTransport, localQueueDepth } from "./local.ts";

export async function createTransport(config: Readonly<Config>, handle: DbHandle, logger: Logger): Promise<Transport> {
  switch (config.transport) {
    case "local":
      return createLocalTransport(handle, { maxAttempts: config.maxAttempts, visibilityTimeoutMs: config.visibilityTimeoutMs, logger });
    case "sns-sqs": {
      const { createSnsSqsTransport } = await import("./sns-sqs/index.ts");
      return createSnsSqsTransport(config.aws, { maxAttempts: config.maxAttempts, logger });
    }
    case "pubsub": {
      const { createPubsubTransport } = await import("./pubsub/index.ts");
      return createPubsubTransport(config.pubsub, { maxAttempts: config.maxAttempts, logger });
    }
  }
}
