// Flags > ECOM_* environment > config file > defaults, validated into one frozen Config.
import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { ROLES, SETTINGS, type Role, type Setting } from "./settings.ts";
import type { Config } from "./types.ts";

/** A setting was given a value ecom cannot use; the message names the setting and what it accepts. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Raw = Record<string, unknown>;
type Source = "flag" | "env" | "config" | "default";
const BY_NAME = new Map(SETTINGS.map((s) => [s.name, s]));

export const envName = (name: string) => `ECOM_${name.replaceAll("-", "_").toUpperCase()}`;
export const configKey = (name: string) => name.replaceAll("-", "_");

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "5m", "7d"; a bare number is seconds. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "s"]!);
}

function where(setting: Setting, source: Source): string {
  if (source === "env") return envName(setting.name);
  if (source === "config") return `config key ${configKey(setting.name)}`;
  return `--${setting.name}`;
}

function coerce(setting: Setting, value: unknown, source: Source): unknown {
  const bad = (accepted: string) =>
    new ConfigError(`${where(setting, source)}: ${JSON.stringify(value)} is not valid; accepted: ${accepted}`);
  const text = Array.isArray(value) ? value.join(",") : String(value).trim();
  switch (setting.kind) {
    case "string":
    case "secret":
      if (text === "") throw bad("a non-empty string");
      if (setting.pattern && !setting.pattern.test.test(text)) throw bad(setting.pattern.accepted);
      return text;
    case "int":
    case "number": {
      const n = typeof value === "number" ? value : Number(text);
      const integer = setting.kind === "int";
      const range = `${setting.min ?? "-inf"}..${setting.max ?? "inf"}`;
      if (text === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw bad(`${integer ? "an integer" : "a number"} in ${range}`);
      if ((setting.min !== undefined && n < setting.min) || (setting.max !== undefined && n > setting.max)) throw bad(`${range}`);
      return n;
    }
    case "bool":
      if (typeof value === "boolean") return value;
      if (["true", "1", "yes", "on", ""].includes(text.toLowerCase())) return true;
      if (["false", "0", "no", "off"].includes(text.toLowerCase())) return false;
      throw bad("true or false");
    case "enum":
      if (!setting.values!.includes(text)) throw bad(setting.values!.join(", "));
      return text;
    case "list": {
      const items = text.split(",").map((s) => s.trim()).filter(Boolean);
      if (items.length === 0) throw bad("a comma-separated list");
      if (setting.values) for (const item of items) if (!setting.values.includes(item)) throw bad(`a comma-separated list of ${setting.values.join(", ")}`);
      return items;
    }
    case "duration": {
      const ms = typeof value === "number" ? value * 1000 : parseDuration(text);
      if (ms === null || ms < 0) throw bad("a duration like 500ms, 30s, 5m, 2h, 7d");
      return ms;
    }
  }
}

/** Flattens `[cassandra] contact_points = ...` into `cassandra_contact_points`. */
function flatten(table: Raw, prefix = ""): Raw {
  const out: Raw = {};
  for (const [key, value] of Object.entries(table)) {
    const name = prefix ? `${prefix}_${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value)) Object.assign(out, flatten(value as Raw, name));
    else out[name] = value;
  }
  return out;
}

function readConfigFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: Raw;
  try {
    parsed = parseToml(text) as Raw;
  } catch (error) {
    throw new ConfigError(`--config: ${path} is not valid TOML: ${(error as Error).message}`);
  }
  const flat = flatten(parsed);
  const known = new Set(SETTINGS.map((s) => configKey(s.name)));
  for (const key of Object.keys(flat)) {
    if (!known.has(key)) throw new ConfigError(`--config: ${path} has unknown key ${key}; see config/ecom.example.toml for the accepted keys`);
  }
  return flat;
}

export interface ConfigInput {
  /** Flag values by setting name (already split by the CLI parser; strings or booleans). */
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** Whether stdout is a terminal: per-order log lines are off there unless asked for. */
  tty?: boolean;
}

/** Resolves every setting through the precedence chain; returns the values keyed by setting name. */
export function resolveSettings({ flags, env }: ConfigInput): Map<string, unknown> {
  for (const name of Object.keys(flags)) if (!BY_NAME.has(name) && name !== "config") throw new ConfigError(`unknown flag --${name}; see ecom --help`);
  if (flags.config === "") throw new ConfigError("--config: empty path; give the path of a TOML file (see config/ecom.example.toml)");
  const configPath = (flags.config as string | undefined) ?? (env.ECOM_CONFIG || undefined);
  const file = configPath ? readConfigFile(configPath) : {};
  const values = new Map<string, unknown>();
  for (const setting of SETTINGS) {
    const candidates: [Source, unknown][] = [
      ["flag", flags[setting.name]],
      ["env", env[envName(setting.name)]],
      ["config", file[configKey(setting.name)]],
    ];
    const found = candidates.find(([, v]) => v !== undefined);
    if (found) values.set(setting.name, coerce(setting, found[1], found[0]));
    else if (setting.default !== undefined) values.set(setting.name, coerce(setting, setting.default, "default"));
  }
  return values;
}

/** Builds the frozen Config. `env` is the only environment read in the whole program. */
export function loadConfig(input: ConfigInput): Readonly<Config> {
  const v = resolveSettings(input);
  const get = <T>(name: string) => v.get(name) as T;
  const opt = <T>(name: string) => v.get(name) as T | undefined;
  const roleList = get<string[]>("role");
  const roles: Role[] = roleList.includes("all") ? [...ROLES] : [...new Set(roleList as Role[])];
  const awsEndpoint = opt<string>("aws-endpoint");
  const config: Config = {
    roles,
    transport: get("transport"),
    store: get("store"),
    autoMigrate: get("auto-migrate"),
    dataDir: get("data-dir"),
    sqliteBusyTimeoutMs: get("sqlite-busy-timeout"),
    host: get("host"),
    port: get("port"),
    adminToken: opt("admin-token"),
    logLevel: get("log-level"),
    logOrders: opt<boolean>("log-orders") ?? !input.tty,
    totalsIntervalMs: get("totals-interval"),
    shutdownGraceMs: get("shutdown-grace"),
    producer: {
      seed: get("seed"),
      rate: get("rate"),
      orders: opt<number>("orders") ?? null,
      payments: opt<number>("payments") ?? null,
      unmatchedRatio: get("unmatched-ratio"),
      duplicateRatio: get("duplicate-ratio"),
      progress: get("progress"),
      publishTimeoutMs: get("publish-timeout"),
    },
    batchSize: get("batch-size"),
    relayBatchSize: get("relay-batch-size"),
    maxAttempts: get("max-attempts"),
    visibilityTimeoutMs: get("visibility-timeout"),
    maxMessageBytes: get("max-message-bytes"),
    inboxRetentionMs: get("inbox-retention"),
    largeOrderThreshold: get("large-order-threshold"),
    dlqRetryBaseMs: get("dlq-retry-base"),
    dlqRetryMaxMs: get("dlq-retry-max"),
    cassandra: {
      contactPoints: get("cassandra-contact-points"),
      port: get("cassandra-port"),
      localDc: get("cassandra-local-dc"),
      keyspace: get("cassandra-keyspace"),
      username: opt("cassandra-username"),
      password: opt("cassandra-password"),
      tls: get("cassandra-tls"),
      tlsCaFile: opt("cassandra-tls-ca-file"),
      tlsInsecure: get("cassandra-tls-insecure"),
      readConsistency: get("cassandra-read-consistency"),
      writeConsistency: get("cassandra-write-consistency"),
      requestTimeoutMs: get("cassandra-request-timeout"),
      concurrency: get("cassandra-concurrency"),
      replication: get("cassandra-replication"),
      autoMigrate: get("auto-migrate"),
    },
    dynamodb: {
      region: opt<string>("dynamodb-region") ?? get("aws-region"),
      endpoint: opt<string>("dynamodb-endpoint") ?? awsEndpoint,
      tablePrefix: opt<string>("dynamodb-table-prefix") ?? "",
      billingMode: get("dynamodb-billing-mode"),
      readCapacity: get("dynamodb-read-capacity"),
      writeCapacity: get("dynamodb-write-capacity"),
      requestTimeoutMs: get("dynamodb-request-timeout"),
      concurrency: get("dynamodb-concurrency"),
    },
    aws: {
      region: get("aws-region"),
      snsEndpoint: opt<string>("aws-sns-endpoint") ?? awsEndpoint,
      sqsEndpoint: opt<string>("aws-sqs-endpoint") ?? awsEndpoint,
      s3Endpoint: opt<string>("aws-s3-endpoint") ?? awsEndpoint,
      cloudwatchEndpoint: opt<string>("aws-cloudwatch-endpoint") ?? awsEndpoint,
      maxReceiveCount: get("sqs-max-receive-count"),
      pollers: get("sqs-pollers"),
      waitTimeSeconds: get("sqs-wait-time"),
      visibilityTimeoutSeconds: get("sqs-visibility-timeout"),
      rawDelivery: get("sns-raw-delivery"),
      maxBacklog: get("sqs-max-backlog"),
      topics: { orders: get("sns-orders-topic"), payments: get("sns-payments-topic"), deadletters: get("sns-dlq-topic"), alerts: get("sns-alerts-topic") },
      queues: { order: get("sqs-order-queue"), analytics: get("sqs-analytics-queue"), payment: get("sqs-payment-queue"), dlq: get("sqs-dlq-queue") },
    },
    pubsub: {
      projectId: get("pubsub-project"),
      emulatorHost: opt<string>("pubsub-endpoint") ?? (input.env.PUBSUB_EMULATOR_HOST || undefined),
      maxDeliveryAttempts: get("pubsub-max-delivery-attempts"),
      ackDeadlineSeconds: get("pubsub-ack-deadline"),
      maxMessages: get("pubsub-max-messages"),
      streams: get("pubsub-streams"),
      ordering: get("pubsub-ordering"),
      topics: { orders: get("pubsub-orders-topic"), payments: get("pubsub-payments-topic"), deadletters: get("pubsub-dlq-topic"), alerts: get("pubsub-alerts-topic") },
      subscriptions: { order: get("pubsub-order-sub"), analytics: get("pubsub-analytics-sub"), payment: get("pubsub-payment-sub"), dlq: get("pubsub-dlq-sub") },
    },
    cloudwatch: {
      enabled: get("cloudwatch"),
      namespace: get("cloudwatch-namespace"),
      intervalMs: get("cloudwatch-interval"),
      instance: opt<string>("cloudwatch-instance") ?? null,
      maxPending: get("cloudwatch-max-pending"),
      alarms: { topic: opt("alarm-topic"), deadLetters: get("alarm-dead-letters"), latencyP99Ms: get("alarm-latency-p99"), outboxPeriods: get("alarm-outbox-periods") },
    },
    lambda: {
      storeWaitMs: get("lambda-store-wait"),
      functionPrefix: get("lambda-function-prefix"),
      batchSize: get("lambda-batch-size"),
      batchWindowSeconds: get("lambda-batch-window"),
      endpoint: opt<string>("aws-lambda-endpoint") ?? awsEndpoint,
    },
  };
  if (config.cloudwatch.intervalMs < 1000) throw new ConfigError(`--cloudwatch-interval: ${config.cloudwatch.intervalMs}ms is too short; accepted: a duration of at least 1s`);
  if (config.lambda.batchSize > 10 && config.lambda.batchWindowSeconds < 1) {
    throw new ConfigError("--lambda-batch-size above 10 needs --lambda-batch-window of 1 or more (SQS event source mappings require it)");
  }
  if (config.store === "cassandra" && config.cassandra.contactPoints.length === 0) {
    throw new ConfigError("--store=cassandra needs --cassandra-contact-points (or ECOM_CASSANDRA_CONTACT_POINTS)");
  }
  if (config.dlqRetryMaxMs < config.dlqRetryBaseMs) throw new ConfigError(`--dlq-retry-max must be >= --dlq-retry-base`);
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
