// A dead letter as an outbox message: whole when it fits the broker, its original cut to fit (with a note) when not.
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { DeadLetterInput } from "../../src/domain/model.ts";
import { deadLetterMessage } from "../../src/roles/context.ts";
import { messageBytes } from "../../src/transport/types.ts";

const now = new Date("2026-12-01T00:00:00.000Z");
const input = (original: string): DeadLetterInput => ({
  id: "invalid.payment.42",
  reason: "invalid",
  details: ["payment_datetime: not a date"],
  original,
  topic: "payments",
  subscription: "produce",
  message_id: "file:line 1",
  type: "payment",
  business_key: "42",
  seen_at: now.toISOString(),
});
const dataOf = (body: string) => (JSON.parse(body) as { data: DeadLetterInput }).data;

test("under the limit the original rides whole and the details are untouched", () => {
  const original = JSON.stringify({ notes: Array(1000).fill("q") });
  const message = deadLetterMessage(input(original), now, 262_144);
  expect(message.attributes).toEqual({ reason: "invalid" });
  expect(dataOf(message.body)).toEqual(input(original));
  expect(dataOf(deadLetterMessage(input(original), now).body)).toEqual(input(original));
});

test("over the limit: the original is cut to a prefix that fits, and a detail says how much of what was kept", () => {
  // 180 KB of quotes: about 270 KB once escaped inside the envelope.
  const original = JSON.stringify({ notes: Array(45_000).fill("q") });
  const message = deadLetterMessage(input(original), now, 262_144);
  const data = dataOf(message.body);
  expect(messageBytes(message)).toBeLessThanOrEqual(262_144);
  // The longest prefix that fits: close under the limit.
  expect(messageBytes(message)).toBeGreaterThan(262_144 * 0.95);
  expect(original.startsWith(data.original)).toBe(true);
  const hash = createHash("sha256").update(original).digest("hex");
  expect(data.details).toEqual(["payment_datetime: not a date", `original cut to its first ${data.original.length} of ${original.length} bytes to fit the broker's 262144-byte message limit; sha256 of the whole: ${hash}`]);
  expect({ ...data, original, details: input(original).details }).toEqual(input(original));
});

test("a cut never splits a surrogate pair; details that are not a list are kept as the first entry", () => {
  const original = "😀".repeat(3000);
  const message = deadLetterMessage({ ...input(original), details: "one reason" }, now, 5_000);
  const data = dataOf(message.body);
  expect(messageBytes(message)).toBeLessThanOrEqual(5_000);
  expect(data.original.length % 2).toBe(0);
  expect(data.original).toBe("😀".repeat(data.original.length / 2));
  expect((data.details as string[])[0]).toBe("one reason");
  expect((data.details as string[])[1]).toStartWith(`original cut to its first ${Buffer.byteLength(data.original)} of 12000 bytes`);
});
