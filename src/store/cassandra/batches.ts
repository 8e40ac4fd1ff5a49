// How writes are grouped: rounds that never batch two writes of one key, and batches by replica, partitions and bytes.
import type cassandra from "cassandra-driver";
import { keyBytes, type Long } from "./rows.ts";

/**
 * Fact writes (order and payment rows in the fact and query tables) go in unlogged batches of statements whose
 * partitions share a replica: one request instead of one per row, which is most of the cost on the server (measured on
 * the dev node: ~150 us of server CPU per single-row INSERT, ~50 us per row in batches of 10). A batch spans at most
 * BATCH_PARTITIONS partitions (Cassandra's unlogged_batch_across_partitions_warn_threshold is 10) and stays under
 * BATCH_BYTES (batch_size_warn_threshold is 5 KiB; above 50 KiB it refuses the batch); a larger statement goes alone.
 */
const BATCH_PARTITIONS = 10;
const BATCH_BYTES = 4 * 1024;

export type Statement = { query: string; params: unknown[] };
/** A statement with its partition: `partition` names it (table and key), `key` is its bigint partition key. */
export type Routed = Statement & { partition: string; key: Long };

/**
 * Splits items into rounds so that no two items of a round share a key, keeping input order per key: the k-th item
 * of a key goes to round k (statements of one batch share a timestamp, so a later write must go in a later round).
 */
export function roundsByKey<T>(items: T[], keys: (item: T) => (string | number)[]): T[][] {
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
export function toBatches(groups: Statement[][], perBatch: number): { batches: Statement[][]; large: Statement[][] } {
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
