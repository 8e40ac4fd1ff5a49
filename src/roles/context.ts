// What every role receives: its ports. Roles know no SDK and read no environment.
import type { Config } from "../config/types.ts";
import type { Db, DbHandle } from "../db/open.ts";
import { envelope } from "../domain/envelope.ts";
import type { DeadLetterInput } from "../domain/model.ts";
import type { Counters, Inbox } from "../inbox/inbox.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Outbox } from "../outbox/outbox.ts";
import type { Store } from "../store/types.ts";
import type { OutgoingMessage, Transport } from "../transport/types.ts";

export interface RoleContext {
  config: Readonly<Config>;
  transport: Transport;
  store: Store;
  db: Db;
  /** The same connection as `db`, for cached prepared statements on hot paths. */
  handle: DbHandle;
  outbox: Outbox;
  inbox: Inbox;
  counters: Counters;
  log: Logger;
  metrics: Metrics;
  clock: () => Date;
}

export interface RunningRole {
  readonly name: string;
  /** Resolves when the role's work is complete (producer caps reached); consumers never complete. */
  readonly done?: Promise<void>;
  /** Stop taking work, finish what is in flight. Idempotent. */
  stop(): Promise<void>;
}

/** The base counters every role shows in /status. */
export const BASE_COUNTERS = ["received", "processed", "duplicates", "invalid", "dead_lettered", "failed"] as const;

/** A dead letter as an outbox message on the deadletters topic. */
export function deadLetterMessage(input: DeadLetterInput, now: Date): OutgoingMessage {
  const env = envelope("dead_letter", input, now);
  return { id: env.id, topic: "deadletters", body: JSON.stringify(env), attributes: { reason: input.reason } };
}

export { pause } from "../util/pause.ts";
