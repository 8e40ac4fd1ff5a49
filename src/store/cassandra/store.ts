// The Cassandra store: the Store port over the fact, query and dead-letter tables (SPEC §1, §6).
import type cassandra from "cassandra-driver";
import type { CassandraConfig } from "../../config/types.ts";
import { CQL_MAP, KEYSPACE_NAME } from "../../config/settings.ts";
import type { DeadLetterInput, DeadLetterReason, DeadLetterRecord, DeadLetterStatus } from "../../domain/model.ts";
import type { Fact, Order, Payment } from "../../domain/model.ts";
import type { DeadLetterPage, DeadLetterQuery, DeadLetterUpdate, PaymentOutcome, SchemaStep, Store } from "../types.ts";
import { StoreError } from "../types.ts";
import { connect, type StoreLogger } from "./client.ts";
import { DeadLetters } from "./dead-letters.ts";
import { Facts } from "./facts.ts";
import { checkSchema, migrate } from "./schema.ts";
import { Limiter, Session } from "./session.ts";
import { cqlFor, type Cql } from "./statements.ts";

function checkKeyspace(keyspace: string): string {
  if (!KEYSPACE_NAME.test(keyspace)) {
    throw new StoreError(
      `--cassandra-keyspace=${keyspace} is not a keyspace name: ` +
        "use lowercase letters, digits and _ (a letter first, at most 48)",
      false,
    );
  }
  return keyspace;
}

/** Connects to the cluster and returns the Cassandra store. Rejects with a StoreError if it cannot. */
export async function createCassandraStore(
  config: CassandraConfig, opts: { logger?: StoreLogger } = {},
): Promise<Store> {
  const keyspace = checkKeyspace(config.keyspace);
  if (!CQL_MAP.test(config.replication)) {
    throw new StoreError(
      `--cassandra-replication=${config.replication} is not a CQL map: ` +
        `use e.g. {'class': 'NetworkTopologyStrategy', '${config.localDc}': 3}`,
      false,
    );
  }
  const client = await connect(config, opts.logger);
  const session = new Session(client, keyspace, new Limiter(config.concurrency), config.requestTimeoutMs, config);
  return new CassandraStore(session, config.replication);
}

class CassandraStore implements Store {
  readonly kind = "cassandra" as const;
  private readonly cql: Cql;
  private readonly facts: Facts;
  private readonly deadLetters: DeadLetters;
  private readonly client: cassandra.Client;
  private closed: Promise<void> | null = null;

  constructor(
    private readonly session: Session,
    /** CQL replication map for a keyspace migrate creates. */
    private readonly replication: string,
  ) {
    this.cql = cqlFor(session.keyspace);
    this.client = session.client;
    this.facts = new Facts(session, this.cql);
    this.deadLetters = new DeadLetters(session, this.cql);
  }

  upsertOrders(orders: Order[]): Promise<void> {
    return this.facts.upsertOrders(orders);
  }

  applyPayments(payments: Payment[]): Promise<PaymentOutcome[]> {
    return this.facts.applyPayments(payments);
  }

  getFact(orderId: number): Promise<Fact | null> {
    return this.facts.getFact(orderId);
  }

  ordersByCustomer(customerId: number, limit: number): Promise<Fact[]> {
    return this.facts.ordersByCustomer(customerId, limit);
  }

  putDeadLetters(records: DeadLetterInput[], nextRetryAt: string | null): Promise<void> {
    return this.deadLetters.put(records, nextRetryAt);
  }

  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetterPage> {
    return this.deadLetters.list(query);
  }

  getDeadLetter(id: string): Promise<DeadLetterRecord | null> {
    return this.deadLetters.get(id);
  }

  updateDeadLetters(updates: DeadLetterUpdate[]): Promise<void> {
    return this.deadLetters.update(updates);
  }

  dueDeadLetters(reason: DeadLetterReason, now: string, limit: number): Promise<DeadLetterRecord[]> {
    return this.deadLetters.due(reason, now, limit);
  }

  deadLetterCounts(): Promise<Record<DeadLetterStatus, number>> {
    return this.deadLetters.counts();
  }

  ping(): Promise<void> {
    return this.session.ping(this.cql.selectRelease);
  }

  migrate(): Promise<SchemaStep[]> {
    return migrate(this.session, this.cql, this.replication);
  }

  checkSchema(): Promise<void> {
    return checkSchema(this.session, this.cql);
  }

  close(): Promise<void> {
    this.closed ??= this.client.shutdown();
    return this.closed;
  }
}
