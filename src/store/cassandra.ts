// Apache Cassandra implementation of the Store port: fact rows, query tables and dead-letter records (SPEC §1, §6).
import { readFileSync } from "node:fs";
import cassandra from "cassandra-driver";
// @ts-ignore: Bun imports the file as a string (and embeds it in a compiled binary); TypeScript has no *.cql declaration.
import schemaCql from "../../cassandra/schema.cql" with { type: "text" };
import type { CassandraConfig } from "../config/types.ts";
import { CQL_MAP, KEYSPACE_NAME } from "../config/settings.ts";
import type {
  DeadLetterInput,
  DeadLetterReason,
  DeadLetterRecord,
  DeadLetterStatus,
  Fact,
  Order,
  Payment,
} from "../domain/model.ts";
import { DEAD_LETTER_STATUSES } from "../domain/model.ts";
import type { DeadLetterPage, DeadLetterQuery, DeadLetterUpdate, PaymentOutcome, Store } from "./types.ts";
import { SchemaMissingError, StoreError, type SchemaStep } from "./types.ts";
import { guardControlConnectionRefresh } from "./driver-patch.ts";

// A driver bug can otherwise end the process while Cassandra is away (see driver-patch.ts).
guardControlConnectionRefresh();

const { Client, ExecutionProfile, auth, errors, policies, types } = cassandra;
type Row = cassandra.types.Row;
type ResultSet = cassandra.types.ResultSet;

export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Attempts per request for retryable failures (timeouts, unavailability, overload), with exponential backoff. */
const ATTEMPTS = 4;
const BACKOFF_BASE_MS = 100;
/** Host reconnection delay: short and constant, so a returning node is used again within about a second. */
const RECONNECT_DELAY_MS = 1000;
/** DDL waits for schema agreement, which takes longer than a data request. */
const DDL_TIMEOUT_MS = 60_000;
/** Rows per page when scanning the dead-letter indexes. */
const SCAN_PAGE = 5000;
/**
 * How far below the oldest live due entry the next scan of dead_letters_due starts: room for writers whose
 * clocks run behind this process's, or whose writes land late.
 */
const DUE_FLOOR_MARGIN_MS = 10 * 60_000;
/**
 * Fact writes (order and payment rows in the fact and query tables) go in unlogged batches of statements whose
 * partitions share a replica: one request instead of one per row, which is most of the cost on the server (measured on
 * the dev node: ~150 us of server CPU per single-row INSERT, ~50 us per row in batches of 10). A batch spans at most
 * BATCH_PARTITIONS partitions (Cassandra's unlogged_batch_across_partitions_warn_threshold is 10) and stays under
 * BATCH_BYTES (batch_size_warn_threshold is 5 KiB; above 50 KiB it refuses the batch); a larger statement goes alone.
 */
const BATCH_PARTITIONS = 10;
const BATCH_BYTES = 4 * 1024;
/** Order keys read per `IN` query (keys owned by one replica): ~45 us of server CPU per key against ~100 us read alone. */
const KEYS_PER_READ = 50;
/**
 * Orders this store has written (and Cassandra confirmed) whose keys it remembers, so that a payment for one of them
 * skips the key read: in a process running the order and payment roles together that is every payment whose order came
 * first, and the read is ~45 us of server CPU per payment (a third of a payment's cost). Oldest forgotten first; ~100
 * bytes an entry.
 */
export const KNOWN_ORDERS = 200_000;
/** Dead-letter records read per `IN` query (a record may hold a whole 256 KiB message; frames stop at 16 MiB). */
const DEAD_LETTERS_PER_READ = 20;
/** Records per unlogged batch of dead-letter rows, and per logged batch of their index rows (a few partitions). */
const DEAD_LETTERS_PER_BATCH = 4;
const INDEX_ENTRIES_PER_BATCH = 10;
/** The single partition of dead_letter_days. */
const DAYS_BUCKET = "all";
const SCHEMA_HINT = "run `ecom migrate` or start with --auto-migrate";

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

/** Server answers that mean "try again later", not "this request is wrong". */
const RETRYABLE_CODES = new Set<number>([
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.writeTimeout,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.truncateError,
]);
const RETRYABLE_SOCKET_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

// ------------------------------------------------------------------ schema

interface SchemaStatement {
  /** What migrate reports, e.g. `keyspace ecom_store` or `table ecom_store.orders_payments_facts`. */
  object: string;
  cql: string;
}

/** The statements of cassandra/schema.cql for `keyspace` and `replication` (comments dropped, split on `;`). */
function schemaStatements(keyspace: string, replication: string): SchemaStatement[] {
  const text = (schemaCql as string)
    .split("\n")
    .filter((line) => !/^\s*(--|\/\/)/.test(line))
    .join("\n");
  return text
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const cql = s.replace(/\becom_store\b/g, keyspace).replace(/replication\s*=\s*\{[^}]*\}/i, `replication = ${replication}`);
      const head = /^CREATE\s+(KEYSPACE|TABLE)\s+IF\s+NOT\s+EXISTS\s+([\w.]+)/i.exec(cql);
      return { object: head ? `${head[1]!.toLowerCase()} ${head[2]}` : cql.split(/\s+/).slice(0, 3).join(" "), cql };
    });
}

/** The pairs of a CQL replication map ('class' by its short name), as system_schema.keyspaces shows them. */
function replicationPairs(map: Record<string, string>): string[] {
  return Object.entries(map)
    .map(([k, v]) => `${k}=${k === "class" ? String(v).replace(/^.*\./, "") : String(v)}`)
    .sort();
}

/** Whether the keyspace's replication (from system_schema) is the CQL map asked for. */
function sameReplication(has: Record<string, string>, asked: string): boolean {
  const wanted: Record<string, string> = {};
  for (const m of asked.matchAll(/'([^']+)'\s*:\s*'?([^',}\s]+)'?/g)) wanted[m[1]!] = m[2]!;
  return replicationPairs(has).join(",") === replicationPairs(wanted).join(",");
}

function showReplication(has: Record<string, string>): string {
  return `{${replicationPairs(has).map((p) => p.replace("=", ": ")).join(", ")}}`;
}

/** Table names the schema creates, in file order (what checkSchema requires). */
const SCHEMA_TABLES = schemaStatements("ecom_store", "{}")
  .filter((s) => s.object.startsWith("table "))
  .map((s) => s.object.slice("table ecom_store.".length));

// ------------------------------------------------------------------ helpers

const FACT_COLUMNS =
  "order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date, " +
  "payment_id, payment_method, card_last_four, payment_status, payment_datetime";
const DEAD_LETTER_COLUMNS =
  "id, reason, details, original, topic, subscription, message_id, type, business_key, attempts, " +
  "first_seen, last_seen, status, next_retry_at, updated_at";

/** CQL statements with the keyspace baked in (prepared once by the driver, on first use). */
function cqlFor(ks: string) {
  return {
    insertFact: `INSERT INTO ${ks}.orders_payments_facts (order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    insertByCustomer: `INSERT INTO ${ks}.orders_by_customer (customer_id, creation_date, order_id, item, quantity, price, shipping_address, order_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    selectOrderKeys: `SELECT order_id, customer_id, creation_date, price, quantity, payment_id, payment_status FROM ${ks}.orders_payments_facts WHERE order_id IN ?`,
    updateFactPayment: `UPDATE ${ks}.orders_payments_facts SET payment_id = ?, payment_method = ?, card_last_four = ?, payment_status = ?, payment_datetime = ? WHERE order_id = ?`,
    updateByCustomerPayment: `UPDATE ${ks}.orders_by_customer SET payment_id = ?, payment_method = ?, card_last_four = ?, payment_status = ?, payment_datetime = ? WHERE customer_id = ? AND creation_date = ? AND order_id = ?`,
    insertPaymentById: `INSERT INTO ${ks}.payments_by_id (payment_id, order_id, payment_method, card_last_four, payment_status, payment_datetime) VALUES (?, ?, ?, ?, ?, ?)`,
    selectFact: `SELECT ${FACT_COLUMNS} FROM ${ks}.orders_payments_facts WHERE order_id = ?`,
    selectCustomerOrders: `SELECT creation_date, order_id FROM ${ks}.orders_by_customer WHERE customer_id = ?`,
    selectDeadLetter: `SELECT ${DEAD_LETTER_COLUMNS} FROM ${ks}.dead_letters WHERE id = ?`,
    selectDeadLettersStamped: `SELECT ${DEAD_LETTER_COLUMNS}, writetime(status) AS w1, writetime(next_retry_at) AS w2, writetime(reason) AS w3 FROM ${ks}.dead_letters WHERE id IN ?`,
    insertDeadLetter: `INSERT INTO ${ks}.dead_letters (${DEAD_LETTER_COLUMNS}) VALUES (${DEAD_LETTER_COLUMNS.split(",").map(() => "?").join(", ")})`,
    insertDeadLetterByDay: `INSERT INTO ${ks}.dead_letters_by_day (day, first_seen, id, reason, status, next_retry_at) VALUES (?, ?, ?, ?, ?, ?)`,
    insertDeadLetterByDayAt: `INSERT INTO ${ks}.dead_letters_by_day (day, first_seen, id, reason, status, next_retry_at) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    insertDeadLetterDay: `INSERT INTO ${ks}.dead_letter_days (bucket, day) VALUES (?, ?)`,
    insertDue: `INSERT INTO ${ks}.dead_letters_due (reason, next_retry_at, id) VALUES (?, ?, ?)`,
    insertDueAt: `INSERT INTO ${ks}.dead_letters_due (reason, next_retry_at, id) VALUES (?, ?, ?) USING TIMESTAMP ?`,
    deleteDue: `DELETE FROM ${ks}.dead_letters_due WHERE reason = ? AND next_retry_at = ? AND id = ?`,
    selectDue: `SELECT next_retry_at, id FROM ${ks}.dead_letters_due WHERE reason = ? AND next_retry_at <= ?`,
    selectDueFrom: `SELECT next_retry_at, id FROM ${ks}.dead_letters_due WHERE reason = ? AND next_retry_at >= ? AND next_retry_at <= ?`,
    selectDays: `SELECT day FROM ${ks}.dead_letter_days WHERE bucket = ?`,
    selectDayKeys: `SELECT day, first_seen, id, reason, status FROM ${ks}.dead_letters_by_day WHERE day = ?`,
  };
}
type Cql = ReturnType<typeof cqlFor>;

const long = (n: number) => types.Long.fromNumber(n);
/** A bigint partition key as the driver serializes it for routing (8 bytes, big-endian). */
export function keyBytes(v: cassandra.types.Long): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeInt32BE(v.getHighBits(), 0);
  b.writeInt32BE(v.getLowBits(), 4);
  return b;
}
/** int64 columns hold values within JS's safe-integer range (SPEC §1 ids and quantities). */
const num = (v: unknown): number => (v instanceof types.Long ? v.toNumber() : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const textOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toFact(row: Row): Fact {
  return {
    order_id: num(row.order_id),
    customer_id: num(row.customer_id),
    item: row.item,
    quantity: num(row.quantity),
    price: row.price,
    shipping_address: row.shipping_address,
    order_status: row.order_status,
    creation_date: row.creation_date,
    payment_id: numOrNull(row.payment_id),
    payment_method: textOrNull(row.payment_method),
    card_last_four: textOrNull(row.card_last_four),
    payment_status: textOrNull(row.payment_status),
    payment_datetime: textOrNull(row.payment_datetime),
  };
}

function toDeadLetter(row: Row): DeadLetterRecord {
  return {
    id: row.id,
    reason: row.reason,
    details: row.details === null ? null : JSON.parse(row.details),
    original: row.original,
    topic: row.topic,
    subscription: row.subscription,
    message_id: row.message_id,
    type: textOrNull(row.type),
    business_key: textOrNull(row.business_key),
    attempts: row.attempts,
    first_seen: row.first_seen,
    last_seen: row.last_seen,
    status: row.status,
    next_retry_at: textOrNull(row.next_retry_at),
    updated_at: row.updated_at,
  };
}

/** Records for an error message: `order 7`, `orders 7, 9` or `orders 7, 9 and 3 more`. */
function describeIds(noun: string, ids: number[]): string {
  if (ids.length === 1) return `${noun} ${ids[0]}`;
  return `${noun}s ${ids.slice(0, 2).join(", ")}${ids.length > 2 ? ` and ${ids.length - 2} more` : ""}`;
}

/** UTC day (YYYY-MM-DD) of an ISO-8601 time: the dead_letters_by_day partition of a record. */
function dayOf(iso: string, id: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new StoreError(`dead letter ${id} has first_seen "${iso}", which is not an ISO-8601 time`, false);
  return new Date(t).toISOString().slice(0, 10);
}

/**
 * The record a put of `input` leaves: a new pending one (attempts 1), or the stored one with attempts + 1, last seen,
 * reason, details and original refreshed, and pending again.
 */
function merged(input: DeadLetterInput, previous: DeadLetterRecord | null, nextRetryAt: string | null): DeadLetterRecord {
  const retryAt = input.reason === "unmatched_order" ? nextRetryAt : null;
  const now = new Date().toISOString();
  if (previous) {
    return {
      ...previous,
      reason: input.reason,
      details: input.details,
      original: input.original,
      attempts: previous.attempts + 1,
      last_seen: input.seen_at > previous.last_seen ? input.seen_at : previous.last_seen,
      status: "pending",
      // keep a schedule already running; a record that had none gets one if it is now retryable
      next_retry_at: previous.next_retry_at ?? retryAt,
      updated_at: now,
    };
  }
  return {
    id: input.id,
    reason: input.reason,
    details: input.details,
    original: input.original,
    topic: input.topic,
    subscription: input.subscription,
    message_id: input.message_id,
    type: input.type,
    business_key: input.business_key,
    attempts: 1,
    first_seen: input.seen_at,
    last_seen: input.seen_at,
    status: "pending",
    next_retry_at: retryAt,
    updated_at: now,
  };
}

/** The latest write time among the record columns its index rows are derived from (null when none is set). */
function lastWrite(row: Row): cassandra.types.Long | null {
  const stamps = [row.w1, row.w2, row.w3].filter((w): w is cassandra.types.Long => w instanceof types.Long);
  return stamps.reduce<cassandra.types.Long | null>((a, b) => (a === null || b.greaterThan(a) ? b : a), null);
}

/** Whether a record belongs in dead_letters_due (what the dlq role polls for retries). */
const dueKey = (r: DeadLetterRecord) => (r.status === "pending" && r.next_retry_at !== null ? `${r.reason}\u0000${r.next_retry_at}` : null);

/** Position in the listing order (day DESC, first_seen DESC, id DESC); a cursor is one of these. */
interface ListKey {
  day: string;
  first_seen: string;
  id: string;
}
interface IndexRow extends ListKey {
  reason: string;
  status: string;
}

/** True when `k` comes after `c` in the listing order. */
function isAfter(k: ListKey, c: ListKey): boolean {
  if (k.day !== c.day) return k.day < c.day;
  if (k.first_seen !== c.first_seen) return k.first_seen < c.first_seen;
  return k.id < c.id;
}

const encodeCursor = (k: ListKey) => Buffer.from(JSON.stringify([k.day, k.first_seen, k.id])).toString("base64url");
function decodeCursor(cursor: string): ListKey {
  try {
    const [day, first_seen, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if ([day, first_seen, id].every((v) => typeof v === "string")) return { day, first_seen, id };
  } catch {
    // fall through to the error below
  }
  throw new StoreError(`cursor ${JSON.stringify(cursor.slice(0, 40))} was not issued by this store: pass the \`next\` of a previous page`, false);
}

/**
 * Splits items into rounds so that no two items of a round share a key, keeping input order per key: the k-th item
 * of a key goes to round k (statements of one batch share a timestamp, so a later write must go in a later round).
 */
function roundsByKey<T>(items: T[], keys: (item: T) => (string | number)[]): T[][] {
  const rounds: T[][] = [];
  const last = new Map<string | number, number>();
  for (const item of items) {
    const ks = keys(item);
    const round = Math.max(-1, ...ks.map((k) => last.get(k) ?? -1)) + 1;
    for (const k of ks) last.set(k, round);
    (rounds[round] ??= []).push(item);
  }
  return rounds;
}

type Statement = { query: string; params: unknown[] };
/** A fact row's key in orders_by_customer (as read: a column may be null on a row written by hand). */
/**
 * What applyPayments needs of a fact row: its orders_by_customer key, the amount, and the payment it holds (decides a
 * duplicate charge).
 */
type OrderKey = {
  customer_id: unknown;
  creation_date: unknown;
  price: number;
  quantity: number;
  payment_id: number | null;
  payment_status: string | null;
};

/** About how many bytes a statement adds to a batch (what Cassandra's batch size thresholds count). */
function statementBytes(st: Statement): number {
  let n = 16;
  for (const v of st.params) n += typeof v === "string" ? Buffer.byteLength(v) + 4 : 12;
  return n;
}

/**
 * Groups the statements of records (one group per record) into batches of at most `perBatch` records and BATCH_BYTES;
 * the group of a record too large for a batch of several comes back in `large`.
 */
function toBatches(groups: Statement[][], perBatch: number): { batches: Statement[][]; large: Statement[][] } {
  const batches: Statement[][] = [];
  const large: Statement[][] = [];
  let current: Statement[] = [];
  let records = 0;
  let bytes = 0;
  for (const group of groups) {
    const size = group.reduce((n, st) => n + statementBytes(st), 0);
    if (size > BATCH_BYTES) {
      large.push(group);
      continue;
    }
    if (records === perBatch || bytes + size > BATCH_BYTES) {
      batches.push(current);
      [current, records, bytes] = [[], 0, 0];
    }
    current.push(...group);
    records++;
    bytes += size;
  }
  if (current.length) batches.push(current);
  return { batches, large };
}

type Long = cassandra.types.Long;
/** A statement with its partition: `partition` names it (table and key), `key` is its bigint partition key. */
export type Routed = Statement & { partition: string; key: Long };

/**
 * Splits statements into unlogged batches whose partitions share a replica (`replicaOf`), of at most BATCH_PARTITIONS
 * partitions and BATCH_BYTES each; a statement too large for that comes back as a batch of its own. The driver routes a
 * batch by its first statement, so each goes to a replica of every row it writes.
 */
export function replicaBatches(statements: Routed[], replicaOf: (key: Long) => string): Routed[][] {
  const open = new Map<string, { statements: Routed[]; partitions: Set<string>; bytes: number }>();
  const batches: Routed[][] = [];
  for (const st of statements) {
    const size = statementBytes(st);
    if (size > BATCH_BYTES) {
      batches.push([st]);
      continue;
    }
    const replica = replicaOf(st.key);
    let b = open.get(replica);
    const grows = b && !b.partitions.has(st.partition);
    if (b && ((grows && b.partitions.size >= BATCH_PARTITIONS) || b.bytes + size > BATCH_BYTES)) {
      batches.push(b.statements);
      b = undefined;
    }
    if (!b) open.set(replica, (b = { statements: [], partitions: new Set(), bytes: 0 }));
    b.statements.push(st);
    b.partitions.add(st.partition);
    b.bytes += size;
  }
  for (const b of open.values()) batches.push(b.statements);
  return batches;
}

/**
 * The first replica of a bigint partition key of `keyspace` ("" when the driver has no token map for it). With one host
 * every key has the same replica, and hashing each key (murmur3 in JS, ~1/6 of the driver's CPU here) is skipped.
 */
export function replicaOf(client: cassandra.Client, keyspace: string): (key: Long) => string {
  if (client.hosts.length <= 1) return () => "";
  return (key) => client.getReplicas(keyspace, keyBytes(key))?.[0]?.address ?? "";
}

/** Splits bigint partition keys into chunks of at most `max` owned by one replica (`replicaOf`), in input order. */
export function replicaChunks(keys: Long[], replicaOf: (key: Long) => string, max: number): Long[][] {
  const open = new Map<string, Long[]>();
  const chunks: Long[][] = [];
  for (const key of keys) {
    const replica = replicaOf(key);
    let chunk = open.get(replica);
    if (!chunk) open.set(replica, (chunk = []));
    chunk.push(key);
    if (chunk.length === max) {
      chunks.push(chunk);
      open.delete(replica);
    }
  }
  for (const chunk of open.values()) chunks.push(chunk);
  return chunks;
}

/** A counting semaphore: at most `max` requests in flight across the whole store, first come first served. */
class Limiter {
  private active = 0;
  /** FIFO of waiters; `head` advances instead of shift(), which is O(n) with thousands queued. */
  private waiting: (() => void)[] = [];
  private head = 0;
  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the releasing request hands over its slot
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.waiting[this.head];
    if (!next) {
      this.active--;
      return;
    }
    this.head++;
    // drop the served prefix once it is most of the array, so a queue that never drains stays bounded
    if (this.head >= 1024 && this.head * 2 >= this.waiting.length) [this.waiting, this.head] = [this.waiting.slice(this.head), 0];
    next();
  }
}

// ------------------------------------------------------------------ errors

/** Errors that retrying cannot fix: bad arguments (e.g. an unknown local DC), credentials, invalid queries. */
function isPermanent(error: unknown): boolean {
  if (error instanceof errors.ArgumentError || error instanceof errors.AuthenticationError) return true;
  return error instanceof errors.ResponseError && !RETRYABLE_CODES.has(error.code);
}

/** The per-host errors of a NoHostAvailableError (empty when every host is down and awaiting reconnection). */
const innerErrors = (error: cassandra.errors.NoHostAvailableError): [string, unknown][] => Object.entries(error.innerErrors ?? {});

/**
 * Whether a driver error is transient: timeouts, unavailable/overloaded replicas, dropped sockets, and no
 * reachable host unless a host answered with something permanent.
 */
function isRetryable(error: unknown): boolean {
  if (error instanceof errors.NoHostAvailableError) return !innerErrors(error).some(([, e]) => isPermanent(e));
  if (error instanceof errors.OperationTimedOutError || error instanceof errors.BusyConnectionError) return true;
  if (error instanceof errors.ResponseError) return RETRYABLE_CODES.has(error.code);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_SOCKET_CODES.has(code);
}

/** One line per error: the driver's NoHostAvailableError message would inline each inner error's stack. */
function explain(error: unknown): string {
  if (error instanceof errors.NoHostAvailableError) {
    const hosts = innerErrors(error).map(([host, e]) => `${host}: ${e instanceof Error ? e.message : String(e)}`);
    return hosts.length ? `no host could answer (${hosts.join("; ")})` : "no host is up (all down or reconnecting)";
  }
  return error instanceof Error ? error.message : String(error);
}

/** Wraps a driver error at the edge: the operation, what went wrong, retryability and the cause. */
function toStoreError(what: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError(`cassandra: ${what} failed: ${explain(error)}`, isRetryable(error), { cause: error });
}

/**
 * Runs `fn`, retrying transient failures with exponential backoff and jitter while `budgetMs` lasts (so a
 * request that already timed out is not repeated: a call takes about one request timeout at most); then
 * rejects with a StoreError.
 */
async function withRetry<T>(what: string, budgetMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const base = BACKOFF_BASE_MS * 2 ** (attempt - 1);
      const delay = base / 2 + Math.random() * base;
      const retry = !(error instanceof StoreError) && isRetryable(error) && attempt < ATTEMPTS && Date.now() + delay < deadline;
      if (!retry) throw toStoreError(what, error);
      await Bun.sleep(delay);
    }
  }
}

// ------------------------------------------------------------------ connection

function consistencyOf(name: string, setting: string): number {
  const value = CONSISTENCIES[name.toUpperCase()];
  if (value === undefined) {
    throw new StoreError(`--${setting}=${name} is not a consistency level: use one of ${Object.keys(CONSISTENCIES).join(", ")}`, false);
  }
  return value;
}

function checkKeyspace(keyspace: string): string {
  if (!KEYSPACE_NAME.test(keyspace)) {
    throw new StoreError(
      `--cassandra-keyspace=${keyspace} is not a keyspace name: use lowercase letters, digits and _ (a letter first, at most 48)`,
      false,
    );
  }
  return keyspace;
}

function tlsOptions(config: CassandraConfig): object | undefined {
  if (!config.tls) return undefined;
  let ca: Buffer[] | undefined;
  if (config.tlsCaFile) {
    try {
      ca = [readFileSync(config.tlsCaFile)];
    } catch (error) {
      throw new StoreError(`--cassandra-tls-ca-file=${config.tlsCaFile} cannot be read: ${(error as Error).message}`, false, { cause: error });
    }
  }
  return { ca, rejectUnauthorized: !config.tlsInsecure };
}

/**
 * Driver options, shared with bench/cassandra-ceiling.ts. Execution profiles `read` and `write` carry the
 * configured consistency levels. Load balancing is the driver's DefaultLoadBalancingPolicy for the local DC:
 * token-aware (prepared statements carry their routing key, so each request goes to a replica of its
 * partition) and it moves busy or unresponsive replicas to the back of the plan. Retries are the store's
 * (withRetry), on top of the driver's default retry policy.
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
    profiles: [new ExecutionProfile("read", { consistency: read }), new ExecutionProfile("write", { consistency: write })],
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
  client.on("hostDown", (host: cassandra.Host) => logger.warn({ component: "cassandra", host: host.address }, "cassandra host down"));
  client.on("hostUp", (host: cassandra.Host) => logger.info({ component: "cassandra", host: host.address }, "cassandra host up"));
}

const silent: StoreLogger = { info() {}, warn() {}, error() {} };

/** Connects to the cluster and returns the Cassandra store (kind "cassandra"). Rejects with a StoreError if it cannot. */
export async function createCassandraStore(config: CassandraConfig, opts: { logger?: StoreLogger } = {}): Promise<Store> {
  const keyspace = checkKeyspace(config.keyspace);
  if (!CQL_MAP.test(config.replication)) {
    throw new StoreError(
      `--cassandra-replication=${config.replication} is not a CQL map: use e.g. {'class': 'NetworkTopologyStrategy', '${config.localDc}': 3}`,
      false,
    );
  }
  const client = new Client(cassandraClientOptions(config));
  forwardDriverEvents(client, opts.logger ?? silent);
  try {
    await client.connect();
  } catch (error) {
    await client.shutdown().catch(() => {});
    const where = `${config.contactPoints.join(",")}:${config.port} (local dc ${config.localDc})`;
    throw toStoreError(`connecting to ${where}`, error);
  }
  return new CassandraStore(client, {
    keyspace,
    replication: config.replication,
    limiter: new Limiter(config.concurrency),
    timeoutMs: config.requestTimeoutMs,
  });
}

// ------------------------------------------------------------------ the store

interface StoreOptions {
  keyspace: string;
  /** CQL replication map for a keyspace migrate creates. */
  replication: string;
  limiter: Limiter;
  /** Budget of one call's retries (the request timeout). */
  timeoutMs: number;
}

class CassandraStore implements Store {
  readonly kind = "cassandra" as const;
  private readonly cql: Cql;
  /**
   * Per reason, a next_retry_at below which dead_letters_due holds, as far as this store knows, only deleted
   * entries. Every reconciled or rescheduled dead letter leaves a tombstone in its reason's partition; a scan
   * from the partition's start reads them all, and past 100,000 (tombstone_failure_threshold) Cassandra refuses
   * the read. Scans start at the floor instead. It is unknown (a full scan) until the first scan, and lowered
   * by every due entry written through this store, also while a scan runs (dueWrittenLow).
   */
  private readonly dueFloor = new Map<string, string>();
  private readonly dueWrittenLow = new Map<string, string>();
  /**
   * order_id → its orders_by_customer key, for orders written through this store (see KNOWN_ORDERS). Only a write
   * Cassandra confirmed enters it, so an entry means the fact row exists; the key is the latest this store wrote (an
   * order is stored once per inbox retention, so its key does not change under it).
   */
  private readonly knownOrders = new Map<number, OrderKey>();
  private closed: Promise<void> | null = null;

  constructor(
    private readonly client: cassandra.Client,
    private readonly options: StoreOptions,
  ) {
    this.cql = cqlFor(options.keyspace);
  }

  /** Runs one request through the limiter, with retries inside the request-timeout budget. */
  private run<T>(what: string, request: () => Promise<T>): Promise<T> {
    return withRetry(what, this.options.timeoutMs, () => this.options.limiter.run(request));
  }

  /** A prepared, idempotent read at the read consistency (retried, bounded by the limiter). */
  private read(what: string, query: string, params: unknown[], options: cassandra.QueryOptions = {}): Promise<ResultSet> {
    const execOptions = { prepare: true, isIdempotent: true, executionProfile: "read", ...options };
    return this.run(what, () => this.client.execute(query, params, execOptions));
  }

  /** A prepared, idempotent write at the write consistency (retried, bounded by the limiter). */
  private write(what: string, query: string, params: unknown[]): Promise<ResultSet> {
    const execOptions = { prepare: true, isIdempotent: true, executionProfile: "write" };
    return this.run(what, () => this.client.execute(query, params, execOptions));
  }

  /** The rows of a query page by page, each page fetched when the previous one is consumed (and retried on its own). */
  private async *pages(what: string, query: string, params: unknown[], fetchSize: number): AsyncGenerator<Row[]> {
    let pageState: string | undefined;
    do {
      const page = await this.read(what, query, params, { fetchSize, pageState });
      yield page.rows;
      pageState = page.pageState ?? undefined;
    } while (pageState);
  }

  private async readAll(what: string, query: string, params: unknown[]): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const page of this.pages(what, query, params, SCAN_PAGE)) rows.push(...page);
    return rows;
  }

  // ---- facts

  async upsertOrders(orders: Order[]): Promise<void> {
    for (const round of roundsByKey(orders, (o) => [o.order_id])) {
      await this.writeRouted(`upsert of ${describeIds("order", round.map((o) => o.order_id))}`, round.flatMap((o) => this.orderStatements(o)));
      for (const o of round) {
        // Order columns only: the payment this store knows the row holds stays known.
        const had = this.knownOrders.get(o.order_id);
        const payment = { payment_id: had?.payment_id ?? null, payment_status: had?.payment_status ?? null };
        this.remember(o.order_id, { customer_id: long(o.customer_id), creation_date: o.creation_date, price: o.price, quantity: o.quantity, ...payment });
      }
    }
  }

  private remember(orderId: number, key: OrderKey): void {
    const known = this.knownOrders;
    known.delete(orderId);
    known.set(orderId, key);
    if (known.size > KNOWN_ORDERS) known.delete(known.keys().next().value!);
  }

  /** The order columns only (payment columns untouched), plus its orders_by_customer entry. */
  private orderStatements(o: Order): Routed[] {
    const values = [o.item, long(o.quantity), o.price, o.shipping_address, o.order_status];
    const [orderId, customerId] = [long(o.order_id), long(o.customer_id)];
    return [
      { query: this.cql.insertFact, params: [orderId, customerId, ...values, o.creation_date], partition: `f${o.order_id}`, key: orderId },
      { query: this.cql.insertByCustomer, params: [customerId, o.creation_date, orderId, ...values], partition: `c${o.customer_id}`, key: customerId },
    ];
  }

  /**
   * Reads the key and payment of every order the payments name, then decides each payment in input order: unmatched
   * when its order is absent, a duplicate charge when the row holds another completed payment (recorded in
   * payments_by_id only), else set on the fact row and query tables (written in input order: the last one wins). The
   * decision rests on that read (or on what this store wrote), not on a lightweight transaction: a second payment
   * written by another process at the same moment is not seen (Paxos would cost several round trips per payment).
   */
  async applyPayments(payments: Payment[]): Promise<PaymentOutcome[]> {
    const read = await this.orderKeys([...new Set(payments.map((p) => p.order_id))]);
    const state = new Map([...read].map(([id, key]) => [id, { ...key }]));
    const applied: Payment[] = [];
    const charged: Payment[] = [];
    const outcomes = payments.map((p): PaymentOutcome => {
      const row = state.get(p.order_id);
      if (!row) return "unmatched";
      if (row.payment_id !== null && row.payment_id !== p.payment_id && row.payment_status === "completed") {
        charged.push(p);
        return { outcome: "duplicate_charge", kept_payment_id: row.payment_id, price: row.price, quantity: row.quantity };
      }
      applied.push(p);
      // The key a statement carries is read before this payment changes the row's state.
      row.payment_id = p.payment_id;
      row.payment_status = p.payment_status;
      return "applied";
    });
    for (const round of roundsByKey(applied, (p) => [`o${p.order_id}`, `p${p.payment_id}`])) {
      await this.writeRouted(describeIds("payment", round.map((p) => p.payment_id)), round.flatMap((p) => this.paymentStatements(p, state.get(p.order_id)!)));
    }
    if (charged.length) {
      const statements = charged.map((p) => this.paymentByIdStatement(p));
      for (const round of roundsByKey(statements, (st) => [st.partition])) await this.writeRouted(describeIds("payment", charged.map((p) => p.payment_id)), round);
    }
    for (const p of applied) if (this.knownOrders.has(p.order_id)) this.remember(p.order_id, state.get(p.order_id)!);
    return outcomes;
  }

  private replicas(): (key: Long) => string {
    return replicaOf(this.client, this.options.keyspace);
  }

  /**
   * order_id → the fact row's orders_by_customer key, for the orders that exist: the ones this store wrote from memory,
   * the others by one `IN` read per KEYS_PER_READ keys owned by the same replica, sent to that replica.
   */
  private async orderKeys(orderIds: number[]): Promise<Map<number, OrderKey>> {
    const keys = new Map<number, OrderKey>();
    const unknown: number[] = [];
    for (const id of orderIds) {
      const key = this.knownOrders.get(id);
      if (key) keys.set(id, key);
      else unknown.push(id);
    }
    if (!unknown.length) return keys;
    const ids = unknown.map((id) => long(id));
    const chunks = replicaChunks(ids, this.replicas(), KEYS_PER_READ);
    const pages = await Promise.all(
      chunks.map((chunk) =>
        this.read(`read of ${describeIds("order", chunk.map(num))}`, this.cql.selectOrderKeys, [chunk], {
          routingKey: keyBytes(chunk[0]!),
          fetchSize: chunk.length + 1,
        }),
      ),
    );
    for (const page of pages) {
      for (const row of page.rows) {
        keys.set(num(row.order_id), {
          customer_id: row.customer_id, creation_date: row.creation_date, price: Number(row.price), quantity: num(row.quantity),
          payment_id: numOrNull(row.payment_id), payment_status: row.payment_status ?? null,
        });
      }
    }
    return keys;
  }

  private paymentByIdStatement(p: Payment): Routed {
    const [paymentId, orderId] = [long(p.payment_id), long(p.order_id)];
    const params = [paymentId, orderId, p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime];
    return { query: this.cql.insertPaymentById, params, partition: `p${p.payment_id}`, key: paymentId };
  }

  private paymentStatements(p: Payment, order: OrderKey): Routed[] {
    const [paymentId, orderId] = [long(p.payment_id), long(p.order_id)];
    const fields = [paymentId, p.payment_method, p.card_last_four, p.payment_status, p.payment_datetime];
    const statements: Routed[] = [
      { query: this.cql.updateFactPayment, params: [...fields, orderId], partition: `f${p.order_id}`, key: orderId },
      this.paymentByIdStatement(p),
    ];
    if (order.customer_id instanceof types.Long && order.creation_date !== null) {
      const params = [...fields, order.customer_id, order.creation_date, orderId];
      statements.push({ query: this.cql.updateByCustomerPayment, params, partition: `c${order.customer_id.toString()}`, key: order.customer_id });
    }
    return statements;
  }

  /** Writes statements (no two of one row) in unlogged batches grouped by replica (see replicaBatches), concurrently. */
  private async writeRouted(what: string, statements: Routed[]): Promise<void> {
    const options = { prepare: true, logged: false, isIdempotent: true, executionProfile: "write" };
    await Promise.all(
      replicaBatches(statements, this.replicas()).map((batch) =>
        batch.length === 1 ? this.write(what, batch[0]!.query, batch[0]!.params) : this.run(what, () => this.client.batch(batch, options)),
      ),
    );
  }

  /**
   * Writes the statements of records (one group per record) in batches of `perBatch` records,
   * concurrently; resolves when all are written. `logged` batches apply all or nothing, and a group too large to share
   * one goes as a logged batch of its own; unlogged, its statements go one by one.
   */
  private async writeAll(what: string, groups: Statement[][], perBatch: number, logged = false): Promise<void> {
    const { batches, large } = toBatches(groups, perBatch);
    const options = { prepare: true, logged, isIdempotent: true, executionProfile: "write" };
    const send = (statements: Statement[]) =>
      statements.length === 1 ? this.write(what, statements[0]!.query, statements[0]!.params) : this.run(what, () => this.client.batch(statements, options));
    const alone = logged ? large : large.flat().map((st) => [st]);
    await Promise.all([...batches, ...alone].map(send));
  }

  async getFact(orderId: number): Promise<Fact | null> {
    const row = (await this.read(`read of order ${orderId}`, this.cql.selectFact, [long(orderId)])).first();
    return row ? toFact(row) : null;
  }

  /**
   * Walks orders_by_customer newest first and returns the fact rows; an entry the fact row disagrees with
   * (the order was re-sent with another customer or creation_date) is stale and skipped.
   */
  async ordersByCustomer(customerId: number, limit: number): Promise<Fact[]> {
    const facts: Fact[] = [];
    if (limit < 1) return facts;
    for await (const rows of this.pages(`orders of customer ${customerId}`, this.cql.selectCustomerOrders, [long(customerId)], limit)) {
      const found = await Promise.all(rows.map((r) => this.getFact(num(r.order_id))));
      rows.forEach((r, i) => {
        const fact = found[i];
        if (fact && fact.customer_id === customerId && fact.creation_date === r.creation_date && facts.length < limit) facts.push(fact);
      });
      if (facts.length >= limit) break;
    }
    return facts;
  }

  // ---- dead letters

  async putDeadLetters(records: DeadLetterInput[], nextRetryAt: string | null): Promise<void> {
    for (const round of roundsByKey(records, (r) => [r.id])) {
      const stored = await this.readDeadLetters(round.map((r) => r.id));
      await this.writeDeadLetters(round.map((input) => {
        const previous = stored.get(input.id)?.record ?? null;
        return { record: merged(input, previous, nextRetryAt), previous };
      }));
    }
  }

  /** Stored records (with the write time of their index columns) by id; absent ids are missing from the map. */
  private async readDeadLetters(ids: string[]): Promise<Map<string, { record: DeadLetterRecord; stamp: unknown }>> {
    const unique = [...new Set(ids)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += DEAD_LETTERS_PER_READ) chunks.push(unique.slice(i, i + DEAD_LETTERS_PER_READ));
    const pages = await Promise.all(
      chunks.map((chunk) => this.read(`read of dead letter${chunk.length > 1 ? "s" : ""} ${chunk.slice(0, 2).join(", ")}${chunk.length > 2 ? ` and ${chunk.length - 2} more` : ""}`, this.cql.selectDeadLettersStamped, [chunk], { fetchSize: chunk.length + 1 })),
    );
    const found = new Map<string, { record: DeadLetterRecord; stamp: unknown }>();
    for (const page of pages) for (const row of page.rows) found.set(row.id, { record: toDeadLetter(row), stamp: lastWrite(row) });
    return found;
  }

  /**
   * Writes records (unlogged batches of a few, a large one alone: its `original` may be a whole oversize message and
   * Cassandra refuses batches above batch_size_fail_threshold, 50 KiB by default), then their index rows in logged
   * batches (all or nothing across the index tables; they share a few partitions: the day, the days bucket, the due
   * reason). Records first, so an index entry never points to a record that was not written; a failure in between
   * rejects, and the caller's retry writes both (or dueDeadLetters repairs a stale entry). Ids must be distinct.
   */
  private async writeDeadLetters(writes: { record: DeadLetterRecord; previous: DeadLetterRecord | null }[]): Promise<void> {
    if (writes.length === 0) return;
    const what = `write of ${writes.length === 1 ? `dead letter ${writes[0]!.record.id}` : `dead letters ${writes[0]!.record.id} and ${writes.length - 1} more`}`;
    const records = writes.map(({ record: r }) => [{
      query: this.cql.insertDeadLetter,
      params: [r.id, r.reason, r.details === undefined ? null : JSON.stringify(r.details), r.original, r.topic, r.subscription, r.message_id,
        r.type, r.business_key, r.attempts, r.first_seen, r.last_seen, r.status, r.next_retry_at, r.updated_at],
    }]);
    await this.writeAll(what, records, DEAD_LETTERS_PER_BATCH, false);
    const index = writes.map(({ record: r, previous }) => {
      const day = dayOf(r.first_seen, r.id);
      const statements: Statement[] = [
        { query: this.cql.insertDeadLetterByDay, params: [day, r.first_seen, r.id, r.reason, r.status, r.next_retry_at] },
        { query: this.cql.insertDeadLetterDay, params: [DAYS_BUCKET, day] },
      ];
      const [was, now] = [previous ? dueKey(previous) : null, dueKey(r)];
      // a delete and an insert of the same key in one batch share a timestamp, and the delete would win
      if (previous && was && was !== now) statements.push({ query: this.cql.deleteDue, params: [previous.reason, previous.next_retry_at, r.id] });
      if (now) {
        this.lowerDueFloor(r.reason, r.next_retry_at!);
        statements.push({ query: this.cql.insertDue, params: [r.reason, r.next_retry_at, r.id] });
      }
      return statements;
    });
    await this.writeAll(what, index, INDEX_ENTRIES_PER_BATCH, true);
  }

  /**
   * Pages are cut from the index rows of every day bucket, newest first; `total` needs them all, so a
   * listing reads the small index rows of every record once and the full records of one page only.
   */
  async listDeadLetters(query: DeadLetterQuery): Promise<DeadLetterPage> {
    const matching = (await this.indexRows()).filter(
      (k) => (!query.status || k.status === query.status) && (!query.reason || k.reason === query.reason),
    );
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    const start = cursor ? matching.findIndex((k) => isAfter(k, cursor)) : 0;
    const page = start < 0 ? [] : matching.slice(start, start + query.limit);
    const items = (await Promise.all(page.map((k) => this.getDeadLetter(k.id)))).filter((r) => r !== null);
    const last = page.at(-1);
    const more = start >= 0 && start + query.limit < matching.length;
    return { items, total: matching.length, next: more && last ? encodeCursor(last) : null };
  }

  /** Index rows of all dead letters in listing order (day DESC, then the table's first_seen DESC, id DESC). */
  private async indexRows(): Promise<IndexRow[]> {
    const days = await this.readAll("list of dead-letter days", this.cql.selectDays, [DAYS_BUCKET]);
    const perDay = await Promise.all(
      days.map((d) => this.readAll(`list of dead letters of ${d.day}`, this.cql.selectDayKeys, [d.day])),
    );
    return perDay.flat().map((r) => ({ day: r.day, first_seen: r.first_seen, id: r.id, reason: r.reason, status: r.status }));
  }

  async getDeadLetter(id: string): Promise<DeadLetterRecord | null> {
    const row = (await this.read(`read of dead letter ${id}`, this.cql.selectDeadLetter, [id])).first();
    return row ? toDeadLetter(row) : null;
  }

  async updateDeadLetters(updates: DeadLetterUpdate[]): Promise<void> {
    for (const round of roundsByKey(updates, (u) => [u.id])) {
      const stored = await this.readDeadLetters(round.map((u) => u.id));
      const now = new Date().toISOString();
      await this.writeDeadLetters(round.flatMap((u) => {
        const previous = stored.get(u.id)?.record;
        if (!previous) return [];
        const record: DeadLetterRecord = {
          ...previous,
          status: u.status ?? previous.status,
          attempts: u.attempts ?? previous.attempts,
          next_retry_at: u.next_retry_at === undefined ? previous.next_retry_at : u.next_retry_at,
          last_seen: u.last_seen ?? previous.last_seen,
          updated_at: now,
        };
        return [{ record, previous }];
      }));
    }
  }

  /**
   * Reads dead_letters_due (oldest next_retry_at first) and confirms each entry against its record: an
   * entry the record disagrees with is skipped, deleted, and its dead_letters_by_day row repaired.
   */
  async dueDeadLetters(reason: DeadLetterReason, now: string, limit: number): Promise<DeadLetterRecord[]> {
    const what = `due dead letters of ${reason}`;
    const due: DeadLetterRecord[] = [];
    if (limit < 1) return due;
    const floor = this.dueFloor.get(reason);
    this.dueWrittenLow.delete(reason);
    const [query, params] = floor === undefined ? [this.cql.selectDue, [reason, now]] : [this.cql.selectDueFrom, [reason, floor, now]];
    let oldestLive: string | null = null;
    for await (const rows of this.pages(what, query, params, limit)) {
      const records = await this.readDeadLetters(rows.map((r) => r.id));
      for (const row of rows) {
        const stored = records.get(row.id);
        const r = stored?.record ?? null;
        const current = r && r.status === "pending" && r.reason === reason && r.next_retry_at === row.next_retry_at;
        if (!current) await this.dropStaleDue(what, reason, row, r, stored?.stamp ?? null);
        else {
          oldestLive ??= row.next_retry_at as string;
          if (due.length < limit) due.push(r);
        }
      }
      if (due.length >= limit) break;
    }
    // Below the oldest live entry seen (or `now`, when every entry up to it is gone) only tombstones are left.
    const next = Date.parse(oldestLive ?? now);
    if (Number.isFinite(next)) {
      let candidate = new Date(next - DUE_FLOOR_MARGIN_MS).toISOString();
      const written = this.dueWrittenLow.get(reason);
      if (written !== undefined && written < candidate) candidate = written;
      this.dueFloor.set(reason, candidate);
    }
    return due;
  }

  /** A due entry at `at` is (about to be) written: scans must not start above it. */
  private lowerDueFloor(reason: string, at: string): void {
    const floor = this.dueFloor.get(reason);
    if (floor !== undefined && at < floor) this.dueFloor.set(reason, at);
    const low = this.dueWrittenLow.get(reason);
    if (low === undefined || at < low) this.dueWrittenLow.set(reason, at);
  }

  /**
   * A due entry outlives its record's state when the record was written but its index batch was not (the
   * server went away, or the process died, in between; the batch is atomic, so dead_letters_by_day is stale
   * too, and a rescheduled record has no entry for its new time), or when two writers raced. Deletes the entry
   * and rewrites the record's by_day row and due entry from the record, at the record's own write time, so that
   * an index write newer than the record read here is never undone.
   */
  private async dropStaleDue(what: string, reason: string, row: Row, r: DeadLetterRecord | null, stamp: unknown): Promise<void> {
    const index: { query: string; params: unknown[] }[] = [{ query: this.cql.deleteDue, params: [reason, row.next_retry_at, row.id] }];
    if (r && stamp !== null) {
      index.push({ query: this.cql.insertDeadLetterByDayAt, params: [dayOf(r.first_seen, r.id), r.first_seen, r.id, r.reason, r.status, r.next_retry_at, stamp] });
      // never the key deleted above: that one disagrees with the record
      if (dueKey(r)) {
        this.lowerDueFloor(r.reason, r.next_retry_at!);
        index.push({ query: this.cql.insertDueAt, params: [r.reason, r.next_retry_at, r.id, stamp] });
      }
    }
    const options = { prepare: true, logged: true, isIdempotent: true, executionProfile: "write" };
    await this.run(what, () => this.client.batch(index, options));
  }

  async deadLetterCounts(): Promise<Record<DeadLetterStatus, number>> {
    const counts = Object.fromEntries(DEAD_LETTER_STATUSES.map((s) => [s, 0])) as Record<DeadLetterStatus, number>;
    for (const k of await this.indexRows()) {
      if (k.status in counts) counts[k.status as DeadLetterStatus]++;
    }
    return counts;
  }

  // ---- lifecycle

  /**
   * One small read past the limiter: queued behind a full pipeline's writes (FIFO, measured up to ~1.9 s with
   * --cassandra-concurrency=8) it would make /readyz report a busy store as unreachable.
   */
  async ping(): Promise<void> {
    const options = { prepare: true, isIdempotent: true, executionProfile: "read" };
    await withRetry("ping", this.options.timeoutMs, () => this.client.execute("SELECT release_version FROM system.local", [], options));
  }

  /** Applies cassandra/schema.cql (CREATE ... IF NOT EXISTS); an existing keyspace keeps its replication. */
  async migrate(): Promise<SchemaStep[]> {
    const ks = this.options.keyspace;
    const found = (await this.read("migrate", "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [ks])).first();
    const tables = new Set(found ? (await this.read("migrate", "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [ks])).rows.map((r) => r.table_name as string) : []);
    const steps: SchemaStep[] = [];
    for (const s of schemaStatements(ks, this.options.replication)) {
      const options = { prepare: false, readTimeout: DDL_TIMEOUT_MS, executionProfile: "write" };
      await withRetry(`migrate (${s.object})`, DDL_TIMEOUT_MS, () => this.client.execute(s.cql, [], options));
      const resource = `cassandra ${s.object}`;
      if (s.object.startsWith("keyspace ")) {
        const has = found?.replication as Record<string, string> | undefined;
        const note = has && !sameReplication(has, this.options.replication)
          ? `replication kept as ${showReplication(has)}, not the ${this.options.replication.trim()} asked: ecom does not alter a keyspace (ALTER KEYSPACE, then repair)`
          : undefined;
        steps.push({ action: has ? "exists" : "created", resource, ...(note ? { note } : {}) });
      } else {
        steps.push({ action: tables.has(s.object.slice(`table ${ks}.`.length)) ? "exists" : "created", resource });
      }
    }
    return steps;
  }

  async checkSchema(): Promise<void> {
    const keyspaces = await this.read("schema check", "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", [this.options.keyspace]);
    if (!keyspaces.first()) throw new SchemaMissingError(`keyspace ${this.options.keyspace} does not exist: ${SCHEMA_HINT}`);
    const tables = await this.read("schema check", "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [this.options.keyspace]);
    const present = new Set(tables.rows.map((r) => r.table_name as string));
    const missing = SCHEMA_TABLES.find((t) => !present.has(t));
    if (missing) throw new SchemaMissingError(`keyspace ${this.options.keyspace} has no table ${missing}: ${SCHEMA_HINT}`);
  }

  close(): Promise<void> {
    this.closed ??= this.client.shutdown();
    return this.closed;
  }
}
