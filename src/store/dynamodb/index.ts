// Amazon DynamoDB implementation of the Store port (SPEC §7): facts, payments by id and dead-letter records.
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { awsClientConfig } from "../../aws/client.ts";
import type { DynamoConfig } from "../../config/types.ts";
import type { DeadLetterInput, DeadLetterReason, DeadLetterRecord, DeadLetterStatus, Fact, Order, Payment } from "../../domain/model.ts";
import type { CustomerOrdersQuery, DeadLetterPage, FactPage, DeadLetterQuery, DeadLetterUpdate, PaymentOutcome, SchemaStep, Store } from "../types.ts";
import { countRequests, Limiter, Requests } from "./batches.ts";
import { DeadLetters } from "./dead-letters.ts";
import { Facts } from "./facts.ts";
import { tableNames, type TableNames } from "./names.ts";
import { checkSchema, migrate } from "./schema.ts";
import { withRetry } from "./errors.ts";

export { tableNames, INDEX } from "./names.ts";
export { tableDefs } from "./schema.ts";
export { ITEM_LIMIT_BYTES } from "./items.ts";
export { requestCounts } from "./batches.ts";

/** Requests in flight for the API's reads, beside the --dynamodb-concurrency of the pipeline's. */
const API_READS = 8;

/**
 * The SDK client: credentials from the standard AWS chain, the SDK's own retries off (the store retries with its
 * back-off and budget, so a request is never retried twice over), and a bound on every request so none hangs on an
 * endpoint that went away without closing the connection.
 */
export function dynamoClient(config: DynamoConfig): DynamoDBClient {
  const client = new DynamoDBClient({
    ...awsClientConfig({ region: config.region, maxAttempts: 1, requestTimeoutMs: config.requestTimeoutMs }),
    endpoint: config.endpoint,
  });
  countRequests(client);
  return client;
}

export function createDynamoStore(config: DynamoConfig): Store {
  return new DynamoStore(dynamoClient(config), config);
}

class DynamoStore implements Store {
  readonly kind = "dynamodb" as const;
  private readonly tables: TableNames;
  private readonly facts: Facts;
  private readonly deadLetters: DeadLetters;
  private closed = false;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly config: DynamoConfig,
  ) {
    this.tables = tableNames(config.tablePrefix);
    const req = new Requests(client, new Limiter(config.concurrency), config.requestTimeoutMs);
    // The API's reads (GET /orders, /dlq, the counts of /status) take a lane of their own: queued behind a pipeline's
    // writes they would wait for seconds on a busy store (and past the HTTP server's idle timeout).
    const reads = new Requests(client, new Limiter(API_READS), config.requestTimeoutMs);
    this.facts = new Facts(req, this.tables, reads);
    this.deadLetters = new DeadLetters(req, this.tables.deadLetters, reads);
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
  customerOrders(customerId: number, query: CustomerOrdersQuery): Promise<FactPage> {
    return this.facts.customerOrders(customerId, query);
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

  /**
   * A GetItem of a key no order has (-1), past the limiter: it proves the endpoint answers and the facts table is
   * there, and queued behind a busy pipeline's writes it would report a busy store as unreachable.
   */
  async ping(): Promise<void> {
    await withRetry("ping", Math.min(2500, this.config.requestTimeoutMs), () =>
      this.client.send(new GetItemCommand({ TableName: this.tables.facts, Key: { order_id: { N: "-1" } }, ProjectionExpression: "order_id" })),
    );
  }

  migrate(): Promise<SchemaStep[]> {
    return migrate(this.client, this.config, this.tables);
  }

  checkSchema(): Promise<void> {
    return checkSchema(this.client, this.config, this.tables);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }
}
