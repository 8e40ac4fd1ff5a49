// Drizzle table definitions of the SQLite data dir (driver-neutral: bun:sqlite in the binary, better-sqlite3 on Node).
import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Transactional outbox: a row per message to publish; deleted once the transport confirmed it. */
export const outbox = sqliteTable(
  "outbox",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    topic: text("topic").notNull(),
    body: text("body").notNull(),
    attributes: text("attributes"),
    orderingKey: text("ordering_key"),
    createdAt: integer("created_at").notNull(),
    attempts: integer("attempts").notNull().default(0),
    retryAt: integer("retry_at").notNull().default(0),
    lastError: text("last_error"),
  },
);

/** Idempotent inbox: per consumer, the business keys (or, without one, message ids) processed, with the message id. */
export const inbox = sqliteTable(
  "inbox",
  {
    consumer: text("consumer").notNull(),
    key: text("key").notNull(),
    messageId: text("message_id"),
    processedAt: integer("processed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.key] }), index("inbox_processed_at").on(t.processedAt)],
);

/** Durable counters per role (survive restarts; shared by processes on one data dir). */
export const counters = sqliteTable(
  "counters",
  {
    scope: text("scope").notNull(),
    name: text("name").notNull(),
    value: integer("value").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.scope, t.name] })],
);

/** The producer's position in its seeded stream, written in the same transaction as its outbox rows. */
export const producerState = sqliteTable("producer_state", {
  stream: text("stream").primaryKey(),
  nextIndex: integer("next_index").notNull(),
  orders: integer("orders").notNull().default(0),
  payments: integer("payments").notNull().default(0),
});

/** Which process relays the outbox of this data dir now (one at a time; the lease expires if it dies). */
export const relayLease = sqliteTable("relay_lease", {
  id: integer("id").primaryKey(),
  owner: text("owner").notNull(),
  until: integer("until").notNull(),
});

/** The local transport: each published message once, seq growing across topics (trimmed when every subscription is past it)... */
export const localLog = sqliteTable(
  "local_log",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    topic: text("topic").notNull(),
    messageId: text("message_id").notNull(),
    body: text("body").notNull(),
    attributes: text("attributes"),
  },
  (t) => [index("local_log_topic").on(t.topic, t.seq)],
);

/** ...per subscription, how far it has claimed (everything up to it is claimed, acked, or redelivered singly)... */
export const localCursors = sqliteTable("local_cursors", {
  subscription: text("subscription").primaryKey(),
  topic: text("topic").notNull(),
  claimedUpto: integer("claimed_upto").notNull(),
  /** 1 once any process consumed it: then it holds the topic's log back, and one never consumed stops doing so. */
  consumed: integer("consumed").notNull().default(0),
});

/** ...a row per claimed batch (a seq range) with its visibility timeout; deleted on ack... */
export const localClaims = sqliteTable(
  "local_claims",
  {
    subscription: text("subscription").notNull(),
    fromSeq: integer("from_seq").notNull(),
    toSeq: integer("to_seq").notNull(),
    attempts: integer("attempts").notNull(),
    visibleAt: integer("visible_at").notNull(),
    token: integer("token").notNull(),
  },
  (t) => [primaryKey({ columns: [t.subscription, t.fromSeq] })],
);

/** ...and a row per message retried on its own or moved to the dlq subscription. */
export const localRedeliveries = sqliteTable(
  "local_redeliveries",
  {
    subscription: text("subscription").notNull(),
    topic: text("topic").notNull(),
    seq: integer("seq").notNull(),
    attempts: integer("attempts").notNull(),
    visibleAt: integer("visible_at").notNull(),
    deadLetterSource: text("dead_letter_source"),
  },
  (t) => [primaryKey({ columns: [t.subscription, t.seq] })],
);

/** The embedded fact store: ecom_store.orders_payments_facts in SQLite. */
export const facts = sqliteTable(
  "orders_payments_facts",
  {
    orderId: integer("order_id").primaryKey(),
    customerId: integer("customer_id").notNull(),
    item: text("item").notNull(),
    quantity: integer("quantity").notNull(),
    price: real("price").notNull(),
    shippingAddress: text("shipping_address").notNull(),
    orderStatus: text("order_status").notNull(),
    creationDate: text("creation_date").notNull(),
    paymentId: integer("payment_id"),
    paymentMethod: text("payment_method"),
    cardLastFour: text("card_last_four"),
    paymentStatus: text("payment_status"),
    paymentDatetime: text("payment_datetime"),
  },
  // No index by customer (see migration v3): ordersByCustomer scans.
  (t) => [index("facts_by_payment").on(t.paymentId)],
);

/** Durable dead-letter records (SQLite store). */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    reason: text("reason").notNull(),
    details: text("details").notNull(),
    original: text("original").notNull(),
    topic: text("topic").notNull(),
    subscription: text("subscription").notNull(),
    messageId: text("message_id").notNull(),
    type: text("type"),
    businessKey: text("business_key"),
    attempts: integer("attempts").notNull(),
    firstSeen: text("first_seen").notNull(),
    lastSeen: text("last_seen").notNull(),
    status: text("status").notNull(),
    nextRetryAt: text("next_retry_at"),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    index("dead_letters_status").on(t.status, t.firstSeen, t.id),
    index("dead_letters_due").on(t.reason, t.status, t.nextRetryAt),
  ],
);

/** Live analytics aggregates, updated in the same transaction as the analytics inbox. */
export const analyticsMinute = sqliteTable("analytics_minute", {
  minute: text("minute").primaryKey(),
  orders: integer("orders").notNull(),
  revenue: real("revenue").notNull(),
});
export const analyticsItems = sqliteTable("analytics_items", {
  item: text("item").primaryKey(),
  orders: integer("orders").notNull(),
  quantity: integer("quantity").notNull(),
  revenue: real("revenue").notNull(),
});
export const analyticsStatus = sqliteTable("analytics_status", {
  status: text("status").primaryKey(),
  orders: integer("orders").notNull(),
});

export const schema = { outbox, inbox, counters, producerState, relayLease, localLog, localCursors, localClaims, localRedeliveries, facts, deadLetters, analyticsMinute, analyticsItems, analyticsStatus };
