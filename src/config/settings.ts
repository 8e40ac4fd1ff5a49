// Every setting ecom knows: one table drives flags, ECOM_* env, config-file keys, --help and validation.

export type SettingKind = "string" | "int" | "number" | "bool" | "list" | "enum" | "duration" | "secret";

export interface Setting {
  /** Flag name without dashes (kebab-case). Env is ECOM_ + upper snake; config key is snake_case. */
  name: string;
  kind: SettingKind;
  default?: string | number | boolean | string[];
  /** enum values, or list item values when restricted. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /** For a string: the form it must have, and how to say so. */
  pattern?: { test: RegExp; accepted: string };
  group: string;
  help: string;
}

/** A Cassandra keyspace name ecom accepts (unquoted, so lowercase). */
export const KEYSPACE_NAME = /^[a-z][a-z0-9_]{0,47}$/;
/** A DynamoDB table-name prefix: table names take [A-Za-z0-9_.-], 3-255 long; the longest suffix is 21. */
export const DYNAMODB_TABLE_PREFIX = /^[A-Za-z0-9_.-]{1,200}$/;
/** A CQL replication map, as `CREATE KEYSPACE ... WITH replication = <it>` takes. */
export const CQL_MAP = /^\s*\{[^}]*\}\s*$/;

export const ROLES = ["producer", "order", "payment", "analytics", "dlq"] as const;
export type Role = (typeof ROLES)[number];

export const SETTINGS: readonly Setting[] = [
  // general
  { name: "role", kind: "list", default: ["all"], values: ["all", ...ROLES], group: "general", help: "roles to run, comma-separated; all = every role" },
  { name: "transport", kind: "enum", default: "local", values: ["local", "sns-sqs", "pubsub"], group: "general", help: "message broker" },
  { name: "store", kind: "enum", default: "sqlite", values: ["sqlite", "cassandra", "dynamodb"], group: "general", help: "where facts and dead-letter records live" },
  { name: "data-dir", kind: "string", default: "./data", group: "general", help: "SQLite outbox, inbox, local queue and store" },
  { name: "sqlite-busy-timeout", kind: "duration", default: "5ms", group: "general", help: "longest one SQLite write blocks while another connection holds the lock; it is then tried again without blocking the API, for up to 30 s" },
  { name: "host", kind: "string", default: "127.0.0.1", group: "general", help: "HTTP API listen address" },
  { name: "port", kind: "int", default: 8080, min: 0, max: 65535, group: "general", help: "HTTP API port (0 = any free port)" },
  { name: "admin-token", kind: "secret", group: "general", help: "bearer token required by mutating endpoints" },
  { name: "log-level", kind: "enum", default: "info", values: ["trace", "debug", "info", "warn", "error", "fatal", "silent"], group: "general", help: "log verbosity" },
  { name: "log-orders", kind: "bool", group: "general", help: "analytics logs one JSON line per order (default: yes unless stdout is a terminal, which gets a line of totals instead)" },
  { name: "totals-interval", kind: "duration", default: "5s", group: "general", help: "on a terminal without per-order lines, print a line of totals this often (0 = never)" },
  { name: "shutdown-grace", kind: "duration", default: "8s", group: "general", help: "time given to in-flight work on SIGINT/SIGTERM" },
  // producer
  { name: "seed", kind: "int", default: 1, min: 0, group: "producer", help: "seed of the mock generator" },
  { name: "rate", kind: "number", default: 5, min: 0, group: "producer", help: "messages per second (0 = as fast as possible)" },
  { name: "orders", kind: "int", min: 0, group: "producer", help: "stop after this many orders (default: no cap)" },
  { name: "payments", kind: "int", min: 0, group: "producer", help: "stop after this many payments (default: no cap)" },
  { name: "unmatched-ratio", kind: "number", default: 0.05, min: 0, max: 1, group: "producer", help: "share of payments whose order never exists" },
  { name: "duplicate-ratio", kind: "number", default: 0.01, min: 0, max: 1, group: "producer", help: "share of messages published twice" },
  { name: "progress", kind: "bool", default: true, group: "producer", help: "progress bar on a TTY for capped producer runs" },
  { name: "publish-timeout", kind: "duration", default: "5m", group: "producer", help: "how long produce --from-file waits for the broker to take its records before it exits 1, leaving them in the outbox (0 = no limit)" },
  // pipeline
  { name: "batch-size", kind: "int", default: 500, min: 1, max: 5000, group: "pipeline", help: "messages per consumer batch" },
  { name: "relay-batch-size", kind: "int", default: 1000, min: 1, max: 10000, group: "pipeline", help: "outbox rows per relay publish" },
  { name: "max-attempts", kind: "int", default: 5, min: 1, max: 100, group: "pipeline", help: "deliveries before the broker dead-letters a message" },
  { name: "visibility-timeout", kind: "duration", default: "30s", group: "pipeline", help: "how long a claimed message stays invisible (local transport)" },
  { name: "max-message-bytes", kind: "int", default: 262144, min: 1024, group: "pipeline", help: "larger bodies are dead-lettered as invalid" },
  { name: "inbox-retention", kind: "duration", default: "7d", group: "pipeline", help: "how long processed ids and keys are remembered" },
  { name: "large-order-threshold", kind: "number", default: 1000, min: 0, group: "pipeline", help: "price x quantity above which analytics publishes an alert" },
  { name: "dlq-retry-base", kind: "duration", default: "500ms", group: "pipeline", help: "first retry delay of unmatched payments (doubles each time)" },
  { name: "dlq-retry-max", kind: "duration", default: "60s", group: "pipeline", help: "longest retry delay of unmatched payments" },
  // cassandra
  { name: "cassandra-contact-points", kind: "list", default: ["127.0.0.1"], group: "cassandra", help: "contact points" },
  { name: "cassandra-port", kind: "int", default: 9042, min: 1, max: 65535, group: "cassandra", help: "CQL port" },
  { name: "cassandra-local-dc", kind: "string", default: "datacenter1", group: "cassandra", help: "local data center" },
  { name: "cassandra-keyspace", kind: "string", default: "ecom_store", pattern: { test: KEYSPACE_NAME, accepted: "lowercase letters, digits and _ (a letter first, at most 48)" }, group: "cassandra", help: "keyspace" },
  { name: "cassandra-username", kind: "string", group: "cassandra", help: "plain-text auth user" },
  { name: "cassandra-password", kind: "secret", group: "cassandra", help: "plain-text auth password" },
  { name: "cassandra-tls", kind: "bool", default: false, group: "cassandra", help: "connect with TLS" },
  { name: "cassandra-tls-ca-file", kind: "string", group: "cassandra", help: "PEM CA bundle for TLS" },
  { name: "cassandra-tls-insecure", kind: "bool", default: false, group: "cassandra", help: "skip TLS certificate verification" },
  { name: "cassandra-read-consistency", kind: "enum", default: "LOCAL_QUORUM", values: ["ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"], group: "cassandra", help: "read consistency" },
  { name: "cassandra-write-consistency", kind: "enum", default: "LOCAL_QUORUM", values: ["ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"], group: "cassandra", help: "write consistency" },
  { name: "cassandra-request-timeout", kind: "duration", default: "12s", group: "cassandra", help: "per-request timeout" },
  { name: "cassandra-concurrency", kind: "int", default: 32, min: 1, max: 4096, group: "cassandra", help: "requests in flight (each a batch of up to 10 rows or a read of up to 50 keys)" },
  { name: "cassandra-replication", kind: "string", default: "{'class': 'SimpleStrategy', 'replication_factor': 1}", pattern: { test: CQL_MAP, accepted: "a CQL map such as {'class': 'NetworkTopologyStrategy', 'dc1': 3}" }, group: "cassandra", help: "keyspace replication map used by migrate" },
  { name: "auto-migrate", kind: "bool", default: false, group: "cassandra", help: "apply the store's schema (Cassandra keyspace and tables, DynamoDB tables) at start when missing" },
  // dynamodb
  { name: "dynamodb-region", kind: "string", group: "dynamodb", help: "DynamoDB region (default: --aws-region)" },
  { name: "dynamodb-endpoint", kind: "string", group: "dynamodb", help: "DynamoDB endpoint for local servers (default: --aws-endpoint)" },
  { name: "dynamodb-table-prefix", kind: "string", pattern: { test: DYNAMODB_TABLE_PREFIX, accepted: "letters, digits, _ - and . (at most 200)" }, group: "dynamodb", help: "prefix of every table name (default: none)" },
  { name: "dynamodb-billing-mode", kind: "enum", default: "on-demand", values: ["on-demand", "provisioned"], group: "dynamodb", help: "billing mode of the tables migrate creates" },
  { name: "dynamodb-read-capacity", kind: "int", default: 5, min: 1, max: 1000000, group: "dynamodb", help: "read capacity units per table and index (provisioned billing)" },
  { name: "dynamodb-write-capacity", kind: "int", default: 5, min: 1, max: 1000000, group: "dynamodb", help: "write capacity units per table and index (provisioned billing)" },
  { name: "dynamodb-request-timeout", kind: "duration", default: "10s", group: "dynamodb", help: "per-request timeout (and the budget of its retries)" },
  { name: "dynamodb-concurrency", kind: "int", default: 32, min: 1, max: 4096, group: "dynamodb", help: "requests in flight (each a batch of up to 25 items or one item)" },
  // aws
  { name: "aws-region", kind: "string", default: "us-east-1", group: "aws", help: "AWS region" },
  { name: "aws-endpoint", kind: "string", group: "aws", help: "endpoint for SNS and SQS (local servers)" },
  { name: "aws-sns-endpoint", kind: "string", group: "aws", help: "SNS endpoint override" },
  { name: "aws-sqs-endpoint", kind: "string", group: "aws", help: "SQS endpoint override" },
  { name: "aws-s3-endpoint", kind: "string", group: "aws", help: "S3 endpoint override (produce from and archive to s3://; path-style when an endpoint is set)" },
  { name: "aws-cloudwatch-endpoint", kind: "string", group: "aws", help: "CloudWatch endpoint override" },
  { name: "sqs-max-receive-count", kind: "int", default: 5, min: 1, max: 1000, group: "aws", help: "receives before SQS redrives to the queue's DLQ" },
  { name: "sqs-pollers", kind: "int", default: 4, min: 1, max: 64, group: "aws", help: "most concurrent ReceiveMessage loops per queue (past the first, only while polls come back full)" },
  { name: "sqs-wait-time", kind: "int", default: 20, min: 0, max: 20, group: "aws", help: "long-poll seconds" },
  { name: "sqs-visibility-timeout", kind: "int", default: 30, min: 0, max: 43200, group: "aws", help: "queue visibility timeout, seconds" },
  { name: "sqs-max-backlog", kind: "int", default: 0, min: 0, max: 1000000, group: "aws", help: "hold publishes back while a queue of the topic holds more than this many messages, waiting or in flight (0 = off; dead letters are never held; for servers that slow down with depth, like moto)" },
  { name: "sns-raw-delivery", kind: "bool", default: true, group: "aws", help: "subscribe queues with RawMessageDelivery" },
  { name: "sns-orders-topic", kind: "string", default: "orders_topic", group: "aws", help: "orders topic" },
  { name: "sns-payments-topic", kind: "string", default: "payments_topic", group: "aws", help: "payments topic" },
  { name: "sns-dlq-topic", kind: "string", default: "dlq_payments_topic", group: "aws", help: "dead-letter topic" },
  { name: "sns-alerts-topic", kind: "string", default: "order_alerts", group: "aws", help: "alerts topic" },
  { name: "sqs-order-queue", kind: "string", default: "order_processing_queue", group: "aws", help: "order role queue" },
  { name: "sqs-analytics-queue", kind: "string", default: "analytics_queue", group: "aws", help: "analytics role queue" },
  { name: "sqs-payment-queue", kind: "string", default: "payment_processing_queue", group: "aws", help: "payment role queue" },
  { name: "sqs-dlq-queue", kind: "string", default: "dlq_queue", group: "aws", help: "dlq role queue" },
  // cloudwatch
  { name: "cloudwatch", kind: "bool", default: false, group: "cloudwatch", help: "publish role counters, outbox pending and latency p50/p99 to CloudWatch" },
  { name: "cloudwatch-namespace", kind: "string", default: "ecom", group: "cloudwatch", help: "CloudWatch namespace of the metrics and alarms" },
  { name: "cloudwatch-interval", kind: "duration", default: "60s", group: "cloudwatch", help: "how often metrics are published (at least 1s)" },
  { name: "cloudwatch-instance", kind: "string", group: "cloudwatch", help: "Instance dimension (default: host name:HTTP port)" },
  { name: "cloudwatch-max-pending", kind: "int", default: 20000, min: 1, max: 1000000, group: "cloudwatch", help: "data points held while CloudWatch fails; past it the oldest are dropped and counted" },
  { name: "alarm-topic", kind: "string", group: "cloudwatch", help: "SNS topic the alarms notify: an ARN, or a name provision --alarms creates" },
  { name: "alarm-dead-letters", kind: "int", default: 100, min: 0, group: "cloudwatch", help: "alarm when more dead letters than this are pending" },
  { name: "alarm-latency-p99", kind: "duration", default: "5s", group: "cloudwatch", help: "alarm when the produce-to-store p99 latency of order or payment is above this" },
  { name: "alarm-outbox-periods", kind: "int", default: 5, min: 1, max: 100, group: "cloudwatch", help: "alarm when outbox pending grew in this many consecutive minutes" },
  // lambda
  { name: "lambda-store-wait", kind: "duration", default: "10s", group: "lambda", help: "ecom lambda: longest a batch waits for an unavailable store before reporting its records as batch item failures (also bounded by the invocation's deadline)" },
  { name: "lambda-function-prefix", kind: "string", default: "ecom-", group: "lambda", help: "provision --lambda: functions are <prefix><role> (ecom-order, ecom-payment, ecom-analytics, ecom-dlq)" },
  { name: "lambda-batch-size", kind: "int", default: 10, min: 1, max: 10000, group: "lambda", help: "provision --lambda: records per invocation of the SQS event source mappings (above 10 needs --lambda-batch-window)" },
  { name: "lambda-batch-window", kind: "int", default: 0, min: 0, max: 300, group: "lambda", help: "provision --lambda: seconds an event source mapping gathers records before invoking" },
  { name: "aws-lambda-endpoint", kind: "string", group: "lambda", help: "Lambda API endpoint override (default --aws-endpoint)" },
  // pubsub
  { name: "pubsub-project", kind: "string", default: "ecom-local", group: "pubsub", help: "Google Cloud project id" },
  { name: "pubsub-endpoint", kind: "string", group: "pubsub", help: "host:port of an emulator (default: PUBSUB_EMULATOR_HOST)" },
  { name: "pubsub-max-delivery-attempts", kind: "int", default: 5, min: 5, max: 100, group: "pubsub", help: "deliveries before the dead-letter policy applies" },
  { name: "pubsub-ack-deadline", kind: "int", default: 60, min: 10, max: 600, group: "pubsub", help: "subscription ack deadline, seconds" },
  { name: "pubsub-max-messages", kind: "int", default: 5000, min: 1, group: "pubsub", help: "flow control: outstanding messages per subscriber (and per stream on the server)" },
  { name: "pubsub-streams", kind: "int", default: 5, min: 1, max: 32, group: "pubsub", help: "streaming-pull streams per subscriber" },
  { name: "pubsub-ordering", kind: "bool", default: false, group: "pubsub", help: "publish with ordering keys (order_id)" },
  { name: "pubsub-orders-topic", kind: "string", default: "orders_data", group: "pubsub", help: "orders topic" },
  { name: "pubsub-payments-topic", kind: "string", default: "payments_data", group: "pubsub", help: "payments topic" },
  { name: "pubsub-dlq-topic", kind: "string", default: "dlq_payments_data", group: "pubsub", help: "dead-letter topic" },
  { name: "pubsub-alerts-topic", kind: "string", default: "order_alerts", group: "pubsub", help: "alerts topic" },
  { name: "pubsub-order-sub", kind: "string", default: "orders_data-sub", group: "pubsub", help: "order role subscription" },
  { name: "pubsub-analytics-sub", kind: "string", default: "orders_data-analytics-sub", group: "pubsub", help: "analytics role subscription" },
  { name: "pubsub-payment-sub", kind: "string", default: "payments_data-sub", group: "pubsub", help: "payment role subscription" },
  { name: "pubsub-dlq-sub", kind: "string", default: "dlq_payments_data-sub", group: "pubsub", help: "dlq role subscription" },
];
