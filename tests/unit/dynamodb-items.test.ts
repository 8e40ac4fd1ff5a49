// The DynamoDB store's pure parts: which SDK errors are retried, items to records and back, the rounds of a batch.
import { expect, test } from "bun:test";
import type { DeadLetterRecord } from "../../src/domain/model.ts";
import { lastPerKey, roundsByKey } from "../../src/store/dynamodb/batches.ts";
import { isRetryable, toStoreError } from "../../src/store/dynamodb/errors.ts";
import { deadLetterItem, itemBytes, toDeadLetter } from "../../src/store/dynamodb/items.ts";

const sdk = (name: string, status?: number, extra: object = {}) => Object.assign(new Error("it happened"), { name, $metadata: status === undefined ? {} : { httpStatusCode: status }, ...extra });

test("throttling, 5xx, timeouts and refused connections are retryable; validation, missing tables and conditions are not", () => {
  for (const e of [sdk("ProvisionedThroughputExceededException", 400), sdk("ThrottlingException", 400), sdk("RequestLimitExceeded", 400), sdk("InternalServerError", 500), sdk("Whatever", 503), sdk("TimeoutError"), Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" })]) {
    expect([e.name, isRetryable(e)]).toEqual([e.name, true]);
  }
  for (const e of [sdk("ValidationException", 400), sdk("ResourceNotFoundException", 400), sdk("ConditionalCheckFailedException", 400), sdk("UnrecognizedClientException", 400)]) {
    expect([e.name, isRetryable(e)]).toEqual([e.name, false]);
  }
  const wrapped = toStoreError("write of dead letter x", sdk("ThrottlingException", 400));
  expect([wrapped.message, wrapped.retryable]).toEqual(["dynamodb: write of dead letter x failed: ThrottlingException: it happened", true]);
});

test("a dead-letter record survives the round trip; index attributes are set only when they have a value", () => {
  const r: DeadLetterRecord = {
    id: "unmatched_order.payment.7", reason: "unmatched_order", details: ["order 9 does not exist (yet)"], original: '{"payment_id":7}', topic: "payments",
    subscription: "payment", message_id: "m7", type: "payment", business_key: "7", attempts: 2, first_seen: "2026-12-01T00:00:00.000Z",
    last_seen: "2026-12-01T00:01:00.000Z", status: "pending", next_retry_at: "2026-12-01T00:02:00.000Z", updated_at: "2026-12-01T00:01:00.000Z",
  };
  const item = deadLetterItem(r);
  expect([item.due_reason, item.list_key, item.next_retry_at]).toEqual([{ S: "unmatched_order" }, { S: "2026-12-01T00:00:00.000Z|unmatched_order.payment.7" }, { S: "2026-12-01T00:02:00.000Z" }]);
  expect(toDeadLetter(item)).toEqual(r);
  const done = deadLetterItem({ ...r, status: "reconciled", next_retry_at: null, type: null });
  expect(["due_reason" in done, "next_retry_at" in done, done.type]).toEqual([false, false, { NULL: true }]);
  expect(toDeadLetter(done)).toEqual({ ...r, status: "reconciled", next_retry_at: null, type: null });
  // names and UTF-8 bytes of strings; numbers about a byte per two digits
  expect(itemBytes({ ab: { S: "é" }, n: { N: "1234" } })).toBe(2 + 2 + 1 + 3);
});

test("batches: the last write of a key wins; rounds never hold a key twice and keep order per key", () => {
  expect(lastPerKey([{ k: 1, v: "a" }, { k: 2, v: "b" }, { k: 1, v: "c" }], (x) => x.k)).toEqual([{ k: 2, v: "b" }, { k: 1, v: "c" }]);
  const rounds = roundsByKey(["o1p1", "o1p2", "o2p1", "o3p3"], (s) => [s.slice(0, 2), s.slice(2)]);
  expect(rounds).toEqual([["o1p1", "o3p3"], ["o1p2", "o2p1"]]);
});
