// What every role receives: its ports. Roles know no SDK and read no environment.
import type { Config } from "../config/types.ts";
import type { Db, DbHandle } from "../db/open.ts";
import { fitOriginal } from "../domain/cut.ts";
import { envelope } from "../domain/envelope.ts";
import type { DeadLetterInput } from "../domain/model.ts";
import type { Counters, Inbox } from "../inbox/inbox.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Outbox } from "../outbox/outbox.ts";
import type { Store } from "../store/types.ts";
import { messageBytes, type OutgoingMessage, type Transport } from "../transport/types.ts";

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

/**
 * A dead letter as an outbox message on the deadletters topic. Past `maxBytes` (the broker's limit; the original rides
 * inside as an escaped JSON string, so it grows) the original is cut to fit and a detail says how much was kept, of
 * how much, with the whole one's sha256: the broker would refuse the message on every try otherwise. Consumers store
 * such dead letters whole instead (see commit in consume.ts); this cut serves `ecom produce`, whose file keeps the whole record.
 */
export function deadLetterMessage(input: DeadLetterInput, now: Date, maxBytes = Infinity): OutgoingMessage {
  const build = (d: DeadLetterInput): OutgoingMessage => {
    const env = envelope("dead_letter", d, now);
    return { id: env.id, topic: "deadletters", body: JSON.stringify(env), attributes: { reason: d.reason } };
  };
  if (maxBytes === Infinity) return build(input);
  return build(fitOriginal(input, (d) => messageBytes(build(d)), maxBytes, `the broker's ${maxBytes}-byte message limit`));
}

export { pause } from "../util/pause.ts";
