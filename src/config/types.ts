// The validated, frozen configuration every component receives (built once in src/config/load.ts).
import type { Role } from "./settings.ts";

export interface CassandraConfig {
  contactPoints: string[];
  port: number;
  localDc: string;
  keyspace: string;
  username?: string;
  password?: string;
  tls: boolean;
  tlsCaFile?: string;
  tlsInsecure: boolean;
  readConsistency: string;
  writeConsistency: string;
  requestTimeoutMs: number;
  concurrency: number;
  replication: string;
  autoMigrate: boolean;
}

export interface DynamoConfig {
  region: string;
  endpoint?: string;
  /** Prepended to every table name ("" = none). */
  tablePrefix: string;
  billingMode: "on-demand" | "provisioned";
  readCapacity: number;
  writeCapacity: number;
  requestTimeoutMs: number;
  concurrency: number;
}

export interface AwsConfig {
  region: string;
  snsEndpoint?: string;
  sqsEndpoint?: string;
  s3Endpoint?: string;
  cloudwatchEndpoint?: string;
  maxReceiveCount: number;
  pollers: number;
  waitTimeSeconds: number;
  visibilityTimeoutSeconds: number;
  rawDelivery: boolean;
  /** Publishing to a topic waits while one of its queues holds more than this many messages (0 or absent = off). */
  maxBacklog?: number;
  topics: { orders: string; payments: string; deadletters: string; alerts: string };
  queues: { order: string; analytics: string; payment: string; dlq: string };
}

export interface PubsubConfig {
  projectId: string;
  /** host:port of an emulator, from --pubsub-endpoint or PUBSUB_EMULATOR_HOST. */
  emulatorHost?: string;
  maxDeliveryAttempts: number;
  ackDeadlineSeconds: number;
  maxMessages: number;
  /** Streaming-pull streams per subscriber. */
  streams: number;
  ordering: boolean;
  topics: { orders: string; payments: string; deadletters: string; alerts: string };
  subscriptions: { order: string; analytics: string; payment: string; dlq: string };
}

export interface CloudwatchConfig {
  enabled: boolean;
  namespace: string;
  intervalMs: number;
  /** The Instance dimension; null = host name:HTTP port, filled in by the publisher. */
  instance: string | null;
  maxPending: number;
  alarms: { topic?: string; deadLetters: number; latencyP99Ms: number; outboxPeriods: number };
}

export interface LambdaConfig {
  /** How long an invocation's batch waits for an unavailable store before its records are reported as failures. */
  storeWaitMs: number;
  functionPrefix: string;
  batchSize: number;
  batchWindowSeconds: number;
  /** Lambda API endpoint (local servers). */
  endpoint?: string;
}

export interface ProducerConfig {
  seed: number;
  rate: number;
  orders: number | null;
  payments: number | null;
  unmatchedRatio: number;
  duplicateRatio: number;
  progress: boolean;
  /** How long `produce --from-file` waits for its records to be published (0 = no limit). */
  publishTimeoutMs: number;
}

export interface Config {
  roles: Role[];
  transport: "local" | "sns-sqs" | "pubsub";
  store: "sqlite" | "cassandra" | "dynamodb";
  /** Apply the store's schema at start when it is missing (--auto-migrate). */
  autoMigrate: boolean;
  dataDir: string;
  /** PRAGMA busy_timeout of the data dir's connection; longer waits yield to the event loop (src/db/busy.ts). */
  sqliteBusyTimeoutMs: number;
  host: string;
  port: number;
  adminToken?: string;
  logLevel: string;
  logOrders: boolean;
  /** How often a terminal gets a line of totals when per-order lines are off (0 = never). */
  totalsIntervalMs: number;
  shutdownGraceMs: number;
  producer: ProducerConfig;
  batchSize: number;
  relayBatchSize: number;
  maxAttempts: number;
  visibilityTimeoutMs: number;
  maxMessageBytes: number;
  inboxRetentionMs: number;
  largeOrderThreshold: number;
  dlqRetryBaseMs: number;
  dlqRetryMaxMs: number;
  cassandra: CassandraConfig;
  dynamodb: DynamoConfig;
  aws: AwsConfig;
  pubsub: PubsubConfig;
  cloudwatch: CloudwatchConfig;
  lambda: LambdaConfig;
}
