// Requests to DynamoDB with bounded concurrency and retries: single calls, BatchWriteItem and BatchGetItem.
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  type DynamoDBClient,
  type KeysAndAttributes,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { chunk } from "../../util/limit.ts";
import { StoreError } from "../types.ts";
import { backoffMs, isRetryable, toStoreError } from "./errors.ts";
import type { Item } from "./items.ts";
import { Limiter } from "../../util/limit.ts";

/** DynamoDB's limits per request: 25 writes in a BatchWriteItem, 100 keys in a BatchGetItem. */
export const WRITES_PER_BATCH = 25;
export const KEYS_PER_GET = 100;
/**
 * Rounds of a batch's UnprocessedItems (or UnprocessedKeys) sent again, with back-off, before the call rejects as
 * retryable; the caller then holds its messages unacknowledged and tries again, so an item is never dropped.
 */
export const UNPROCESSED_ROUNDS = 12;

/**
 * Requests sent to DynamoDB by this process, by operation (each attempt counts), for the bench and diagnostics: what
 * a run costs in requests is what carries from moto to AWS, where requests are billed and each has a latency.
 */
export const requestCounts = new Map<string, number>();

/** Counts every command the client sends (its own retries are off: one send is one request). */
export function countRequests(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const op = String(context.commandName ?? "unknown").replace(/Command$/, "");
      requestCounts.set(op, (requestCounts.get(op) ?? 0) + 1);
      return next(args);
    },
    { step: "initialize", name: "ecomRequestCount" },
  );
}

export { Limiter };

/** Sends commands through the limiter, each retried on its own within the request-timeout budget. */
export class Requests {
  constructor(
    readonly client: DynamoDBClient,
    private readonly limiter: Limiter,
    readonly budgetMs: number,
  ) {}

  /**
   * Runs one request, retried on transient failures with back-off and jitter while the budget lasts. The budget
   * starts when the first attempt is sent, not while it waits for a slot: a request queued behind a busy pipeline's
   * writes would otherwise spend its budget waiting and give up on the first throttling answer, and the caller would
   * redo its whole batch.
   */
  async send<T>(what: string, request: () => Promise<T>): Promise<T> {
    let deadline: number | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.limiter.run(() => {
          deadline ??= Date.now() + this.budgetMs;
          return request();
        });
      } catch (error) {
        const delay = backoffMs(attempt);
        if (!isRetryable(error) || error instanceof StoreError || Date.now() + delay >= (deadline ?? 0)) throw toStoreError(what, error);
        await Bun.sleep(delay);
      }
    }
  }

  /**
   * Writes `requests` (no two for one key) in BatchWriteItem calls of 25, concurrently. Items DynamoDB hands back
   * unprocessed (a partition over its throughput) are sent again with back-off and jitter until none is left; past
   * UNPROCESSED_ROUNDS rounds the call rejects as retryable, the items still unwritten named by count.
   */
  async batchWrite(what: string, table: string, requests: WriteRequest[]): Promise<void> {
    await Promise.all(chunk(requests, WRITES_PER_BATCH).map((c) => this.writeChunk(what, table, c)));
  }

  private async writeChunk(what: string, table: string, chunk: WriteRequest[]): Promise<void> {
    let pending: WriteRequest[] = chunk;
    for (let round = 1; ; round++) {
      const out = await this.send(what, () => this.client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } })));
      const left = out.UnprocessedItems?.[table] ?? [];
      if (left.length === 0) return;
      if (round >= UNPROCESSED_ROUNDS) {
        throw new StoreError(`dynamodb: ${what} failed: ${left.length} of ${chunk.length} items still unprocessed after ${round} BatchWriteItem rounds (throughput exceeded)`, true);
      }
      pending = left;
      await Bun.sleep(backoffMs(round));
    }
  }

  /**
   * Reads items by key with BatchGetItem (100 keys a call, strongly consistent), UnprocessedKeys sent again with
   * back-off. Keys must be distinct. `projection` names the attributes to read (all when absent).
   */
  async batchGet(what: string, table: string, keys: Item[], projection?: string[]): Promise<Item[]> {
    const found = await Promise.all(chunk(keys, KEYS_PER_GET).map((c) => this.getChunk(what, table, c, projection)));
    return found.flat();
  }

  private async getChunk(what: string, table: string, keys: Item[], projection?: string[]): Promise<Item[]> {
    const names = projection ? Object.fromEntries(projection.map((p, i) => [`#p${i}`, p])) : undefined;
    const shape: Omit<KeysAndAttributes, "Keys"> = {
      ConsistentRead: true,
      ...(names ? { ProjectionExpression: Object.keys(names).join(", "), ExpressionAttributeNames: names } : {}),
    };
    const items: Item[] = [];
    let pending = keys;
    for (let round = 1; ; round++) {
      const out = await this.send(what, () => this.client.send(new BatchGetItemCommand({ RequestItems: { [table]: { ...shape, Keys: pending } } })));
      items.push(...((out.Responses?.[table] ?? []) as Item[]));
      const left = (out.UnprocessedKeys?.[table]?.Keys ?? []) as Item[];
      if (left.length === 0) return items;
      if (round >= UNPROCESSED_ROUNDS) throw new StoreError(`dynamodb: ${what} failed: ${left.length} keys still unprocessed after ${round} BatchGetItem rounds`, true);
      pending = left;
      await Bun.sleep(backoffMs(round));
    }
  }
}

/** Keeps the last item per key, in the order of their last occurrence (a later write of a key wins). */
export function lastPerKey<T>(items: T[], key: (item: T) => string | number): T[] {
  const last = new Map<string | number, T>();
  for (const item of items) {
    const k = key(item);
    last.delete(k);
    last.set(k, item);
  }
  return [...last.values()];
}

/**
 * Splits items into rounds so that no two items of a round share a key, keeping input order per key: the k-th item
 * of a key goes to round k (writes of a round run concurrently, so a later write of a key goes in a later round).
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
