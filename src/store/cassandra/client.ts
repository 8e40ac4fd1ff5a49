// The driver client: options from the config (consistency, TLS, auth, policies), its events logged, and connecting.
import { readFileSync } from "node:fs";
import cassandra from "cassandra-driver";
import type { CassandraConfig } from "../../config/types.ts";
import { StoreError } from "../types.ts";
import { guardControlConnectionRefresh } from "../driver-patch.ts";
import { toStoreError } from "./errors.ts";

// A driver bug can otherwise end the process while Cassandra is away (see driver-patch.ts).
guardControlConnectionRefresh();

const { Client, ExecutionProfile, auth, policies, types } = cassandra;

/** Host reconnection delay: short and constant, so a returning node is used again within about a second. */
const RECONNECT_DELAY_MS = 1000;

const CONSISTENCIES: Record<string, number> = {
  ANY: types.consistencies.any,
  ONE: types.consistencies.one,
  TWO: types.consistencies.two,
  THREE: types.consistencies.three,
  QUORUM: types.consistencies.quorum,
  ALL: types.consistencies.all,
  LOCAL_QUORUM: types.consistencies.localQuorum,
  EACH_QUORUM: types.consistencies.eachQuorum,
  LOCAL_ONE: types.consistencies.localOne,
};

export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: StoreLogger = { info() {}, warn() {}, error() {} };

function consistencyOf(name: string, setting: string): number {
  const value = CONSISTENCIES[name.toUpperCase()];
  if (value === undefined) {
    const accepted = Object.keys(CONSISTENCIES).join(", ");
    throw new StoreError(`--${setting}=${name} is not a consistency level: use one of ${accepted}`, false);
  }
  return value;
}

function tlsOptions(config: CassandraConfig): object | undefined {
  if (!config.tls) return undefined;
  let ca: Buffer[] | undefined;
  if (config.tlsCaFile) {
    try {
      ca = [readFileSync(config.tlsCaFile)];
    } catch (error) {
      const why = (error as Error).message;
      const text = `--cassandra-tls-ca-file=${config.tlsCaFile} cannot be read: ${why}`;
      throw new StoreError(text, false, { cause: error });
    }
  }
  return { ca, rejectUnauthorized: !config.tlsInsecure };
}

/**
 * Driver options, shared with bench/cassandra-ceiling.ts. Execution profiles `read` and `write` carry the
 * configured consistency levels. Load balancing is the driver's DefaultLoadBalancingPolicy for the local DC:
 * token-aware (prepared statements carry their routing key, so each request goes to a replica of its
 * partition) and it moves busy or unresponsive replicas to the back of the plan. Retries are the store's
 * (see errors.ts), on top of the driver's default retry policy.
 */
export function cassandraClientOptions(config: CassandraConfig): cassandra.ClientOptions {
  const read = consistencyOf(config.readConsistency, "cassandra-read-consistency");
  const write = consistencyOf(config.writeConsistency, "cassandra-write-consistency");
  return {
    contactPoints: config.contactPoints,
    localDataCenter: config.localDc,
    protocolOptions: { port: config.port },
    authProvider: config.username ? new auth.PlainTextAuthProvider(config.username, config.password ?? "") : undefined,
    sslOptions: tlsOptions(config),
    socketOptions: { readTimeout: config.requestTimeoutMs, connectTimeout: Math.min(5000, config.requestTimeoutMs) },
    queryOptions: { consistency: read, prepare: true },
    profiles: [
      new ExecutionProfile("read", { consistency: read }),
      new ExecutionProfile("write", { consistency: write }),
    ],
    policies: {
      loadBalancing: new policies.loadBalancing.DefaultLoadBalancingPolicy({ localDc: config.localDc }),
      reconnection: new policies.reconnection.ConstantReconnectionPolicy(RECONNECT_DELAY_MS),
    },
  };
}

function forwardDriverEvents(client: cassandra.Client, logger: StoreLogger): void {
  client.on("log", (level: string, className: string, message: string) => {
    if (level === "error") logger.error({ component: "cassandra", className }, message);
    else if (level === "warning") logger.warn({ component: "cassandra", className }, message);
  });
  client.on("hostDown", (host: cassandra.Host) => {
    logger.warn({ component: "cassandra", host: host.address }, "cassandra host down");
  });
  client.on("hostUp", (host: cassandra.Host) => {
    logger.info({ component: "cassandra", host: host.address }, "cassandra host up");
  });
}

/** A connected client, its driver events going to `logger`. Rejects with a StoreError if it cannot connect. */
export async function connect(config: CassandraConfig, logger: StoreLogger = silent): Promise<cassandra.Client> {
  const client = new Client(cassandraClientOptions(config));
  forwardDriverEvents(client, logger);
  try {
    await client.connect();
  } catch (error) {
    await client.shutdown().catch(() => {});
    const where = `${config.contactPoints.join(",")}:${config.port} (local dc ${config.localDc})`;
    throw toStoreError(`connecting to ${where}`, error);
  }
  return client;
}
