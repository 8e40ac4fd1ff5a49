// The store's requests to Cassandra: one limiter for the whole store, retries, paging and batched writes.
import type cassandra from "cassandra-driver";
import { replicaBatches, replicaOf, toBatches, type Routed, type Statement } from "./batches.ts";
import { retried } from "./errors.ts";
import { StoreError } from "../types.ts";
import type { Long, Row } from "./rows.ts";
import { Limiter } from "../../util/limit.ts";
import { checkReplicasUp, type ReplicaNeeds } from "./replicas.ts";

type ResultSet = cassandra.types.ResultSet;

/** Rows per page when a scan reads a whole partition. */
const SCAN_PAGE = 5000;
const WRITE = { prepare: true, isIdempotent: true, executionProfile: "write" };
/**
 * Each read of the readiness check gets this long: a node that stopped answering (a JVM pause, a dead peer not yet
 * convicted) times out the attempt and the driver tries the next host, inside /readyz's 3 s.
 */
const PING_ATTEMPT_MS = 1000;
const PING = { prepare: true, isIdempotent: true, executionProfile: "read", readTimeout: PING_ATTEMPT_MS };

export { Limiter };

export class Session {
  constructor(
    readonly client: cassandra.Client,
    readonly keyspace: string,
    private readonly limiter: Limiter,
    /** Budget of one call's retries (the request timeout). */
    readonly timeoutMs: number,
    /** The consistency levels the pipeline uses, so the readiness check knows how many replicas must be up. */
    private readonly needs: ReplicaNeeds,
  ) {}

  /** Runs one request through the limiter, with retries inside the request-timeout budget. */
  run<T>(what: string, request: () => Promise<T>): Promise<T> {
    return retried(what, this.timeoutMs, () => this.limiter.run(request));
  }

  /** A prepared, idempotent read at the read consistency (retried, bounded by the limiter). */
  read(what: string, query: string, params: unknown[], options: cassandra.QueryOptions = {}): Promise<ResultSet> {
    const execOptions = { prepare: true, isIdempotent: true, executionProfile: "read", ...options };
    return this.run(what, () => this.client.execute(query, params, execOptions));
  }

  /** A prepared, idempotent write at the write consistency (retried, bounded by the limiter). */
  write(what: string, query: string, params: unknown[]): Promise<ResultSet> {
    return this.run(what, () => this.client.execute(query, params, WRITE));
  }

  /** One batch of statements (retried, bounded by the limiter); a batch of one goes as a plain write. */
  batch(what: string, statements: Statement[], logged: boolean): Promise<ResultSet> {
    if (statements.length === 1) return this.write(what, statements[0]!.query, statements[0]!.params);
    return this.run(what, () => this.client.batch(statements, { ...WRITE, logged }));
  }

  /** The rows of a query page by page, each page fetched when the previous one is consumed (and retried on its own). */
  async *pages(what: string, query: string, params: unknown[], fetchSize: number): AsyncGenerator<Row[]> {
    let pageState: string | undefined;
    do {
      const page = await this.read(what, query, params, { fetchSize, pageState });
      yield page.rows;
      pageState = page.pageState ?? undefined;
    } while (pageState);
  }

  async readAll(what: string, query: string, params: unknown[]): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const page of this.pages(what, query, params, SCAN_PAGE)) rows.push(...page);
    return rows;
  }

  /**
   * Writes the statements of records (one group per record) in batches of `perBatch` records,
   * concurrently; resolves when all are written. `logged` batches apply all or nothing, and a group too large to share
   * one goes as a logged batch of its own; unlogged, its statements go one by one.
   */
  async writeAll(what: string, groups: Statement[][], perBatch: number, logged = false): Promise<void> {
    const { batches, large } = toBatches(groups, perBatch);
    const alone = logged ? large : large.flat().map((st) => [st]);
    await Promise.all([...batches, ...alone].map((statements) => this.batch(what, statements, logged)));
  }

  /** The replica of a partition key, for grouping (see replicaOf). */
  replicas(): (key: Long) => string {
    return replicaOf(this.client, this.keyspace);
  }

  /** Writes statements (no two of one row) in unlogged batches by replica (see replicaBatches), concurrently. */
  async writeRouted(what: string, statements: Routed[]): Promise<void> {
    await Promise.all(replicaBatches(statements, this.replicas()).map((batch) => this.batch(what, batch, false)));
  }

  /**
   * One small read past the limiter: queued behind a full pipeline's writes (FIFO, measured up to ~1.9 s with
   * --cassandra-concurrency=8) it would make /readyz report a busy store as unreachable.
   */
  async ping(query: string): Promise<void> {
    await retried("ping", PING_ATTEMPT_MS, () => this.client.execute(query, [], PING));
    // A node answering is not enough on a cluster: the driver must see as many replicas up as the consistency levels
    // need (two of three at LOCAL_QUORUM), and a read of one key at the read consistency must get them to answer.
    checkReplicasUp(this.client, this.keyspace, this.needs);
    const quorum = `SELECT order_id FROM ${this.keyspace}.orders_payments_facts WHERE order_id = -1`;
    try {
      await retried("ping at the read consistency", PING_ATTEMPT_MS, () => this.client.execute(quorum, [], PING));
    } catch (error) {
      // Any other error (a keyspace not migrated yet) says nothing of the replicas; the first read did answer.
      if (error instanceof StoreError && error.retryable) throw error;
    }
  }
}
