// Wires one ecom process from its config: data dir, transport, store, relay, roles and the HTTP API.
import { hostname } from "node:os";
import { join } from "node:path";
import { startCloudwatch } from "./cloudwatch.ts";
import { ConfigError } from "./config/load.ts";
import type { Config } from "./config/types.ts";
import type { Role } from "./config/settings.ts";
import { whenWritable } from "./db/busy.ts";
import { openDb, type DbHandle } from "./db/open.ts";
import { Counters, Inbox } from "./inbox/inbox.ts";
import type { Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { Outbox } from "./outbox/outbox.ts";
import { Relay } from "./outbox/relay.ts";
import { startAnalyticsRole } from "./roles/analytics.ts";
import type { RoleContext, RunningRole } from "./roles/context.ts";
import { startDlqRole } from "./roles/dlq.ts";
import { startOrderRole } from "./roles/order.ts";
import { startPaymentRole } from "./roles/payment.ts";
import { startProducerRole, type ProducerProgress } from "./roles/producer.ts";
import { createStore, SchemaMissingError, stepLine, type Store } from "./store/index.ts";
import { createTransport, type Transport } from "./transport/index.ts";

export interface Base {
  config: Readonly<Config>;
  handle: DbHandle;
  ctx: RoleContext;
  relay: Relay;
  close(): Promise<void>;
}

/** Opens the data dir's database; a directory ecom cannot create or write fails as a ConfigError naming --data-dir. */
export async function openDataDir(config: Readonly<Config>): Promise<DbHandle> {
  try {
    return await openDb(config.dataDir, { busyTimeoutMs: config.sqliteBusyTimeoutMs });
  } catch (error) {
    throw new ConfigError(`--data-dir: cannot open ${join(config.dataDir, "ecom.db")}: ${(error as Error).message}`);
  }
}

/**
 * Opens the data dir, transport and store, and starts the relay (every ecom process relays its outbox), unless
 * `relay: false` (a Lambda function settles its outbox itself before each answer).
 */
export async function openBase(config: Readonly<Config>, log: Logger, options: { transport?: Transport; store?: Store; relay?: boolean } = {}): Promise<Base> {
  const handle = await openDataDir(config);
  let transport: Transport | undefined;
  let store: Store | undefined;
  try {
    transport = options.transport ?? (await createTransport(config, handle, log));
    store = options.store ?? (await createStore(config, handle, log));
    if (store.kind !== "sqlite") {
      try {
        await store.checkSchema();
      } catch (error) {
        if (!(error instanceof SchemaMissingError) || !config.autoMigrate) throw error;
        for (const step of await store.migrate()) log.info({ migrate: stepLine(step) }, `${store.kind} schema`);
      }
    }
  } catch (error) {
    await transport?.close().catch(() => {});
    await store?.close().catch(() => {});
    handle.close();
    throw error;
  }
  const ctx: RoleContext = {
    config,
    transport,
    store,
    db: handle.db,
    handle,
    outbox: new Outbox(handle, Date.now, transport.outboxSink),
    inbox: new Inbox(handle),
    counters: new Counters(handle),
    log,
    metrics: new Metrics(),
    clock: () => new Date(),
  };
  const relay = new Relay(ctx.outbox, transport, log, { batchSize: config.relayBatchSize });
  if (options.relay !== false) relay.start();
  let closed: Promise<void> | null = null;
  return {
    config,
    handle,
    ctx,
    relay,
    close() {
      closed ??= (async () => {
        await relay.stop(Math.max(500, config.shutdownGraceMs / 2));
        await transport.close().catch((e) => log.warn({ err: e }, "transport close failed"));
        await store.close().catch((e) => log.warn({ err: e }, "store close failed"));
        handle.close();
      })();
      return closed;
    },
  };
}

const STARTERS: Record<Exclude<Role, "producer">, (ctx: RoleContext) => RunningRole> = {
  order: startOrderRole,
  payment: startPaymentRole,
  analytics: startAnalyticsRole,
  dlq: startDlqRole,
};

export interface Pipeline {
  base: Base;
  roles: RunningRole[];
  producer: RunningRole | null;
  /** Stops roles (consumers finish in flight), flushes the outbox, closes everything. */
  stop(): Promise<void>;
}

export async function startPipeline(base: Base, progress?: ProducerProgress, options: { instance?: string } = {}): Promise<Pipeline> {
  const { ctx, config } = base;
  const cloudwatch = startCloudwatch(ctx, config.cloudwatch.instance ?? options.instance ?? `${hostname()}:${config.port}`);
  const roles: RunningRole[] = [];
  for (const role of config.roles) if (role !== "producer") roles.push(STARTERS[role](ctx));
  const producer = config.roles.includes("producer") ? startProducerRole(ctx, progress) : null;
  const purge = setInterval(async () => {
    try {
      const n = await whenWritable(() => ctx.inbox.purge(config.inboxRetentionMs));
      if (n) ctx.log.info({ purged: n }, "inbox entries past retention removed");
    } catch (error) {
      ctx.log.warn({ err: error }, "inbox purge failed");
    }
  }, 60_000);
  purge.unref?.();
  let stopped: Promise<void> | null = null;
  return {
    base,
    roles,
    producer,
    stop() {
      stopped ??= (async () => {
        clearInterval(purge);
        try {
          await producer?.stop();
          await Promise.all(roles.map((r) => r.stop()));
        } finally {
          // The last interval's counters, sent before the store closes (bounded; it never throws).
          await cloudwatch?.stop();
          // Closed even when a role could not stop cleanly (a full disk): the connections and the lease go.
          await base.close();
        }
      })();
      return stopped;
    },
  };
}
