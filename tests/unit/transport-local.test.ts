// The transport contract against the embedded SQLite queue, plus its own cross-process guarantees.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { MIGRATIONS } from "../../src/db/migrations.ts";
import { openDb } from "../../src/db/open.ts";
import { createLocalTransport, localQueueDepth } from "../../src/transport/local.ts";
import { transportContract } from "../contract/transport.contract.ts";
import { waitFor } from "../helpers/wait.ts";

transportContract("local", async () => {
  const handle = await openDb(mkdtempSync(join(tmpdir(), "ecom-local-")));
  return { transport: createLocalTransport(handle, { maxAttempts: 3, visibilityTimeoutMs: 500, pollMs: 10 }), maxAttempts: 3 };
});

test("two connections on one data dir share the queue (as two processes would)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-local-"));
  const a = createLocalTransport(await openDb(dir), { maxAttempts: 3, visibilityTimeoutMs: 1000, pollMs: 10 });
  const b = createLocalTransport(await openDb(dir), { maxAttempts: 3, visibilityTimeoutMs: 1000, pollMs: 10 });
  const got: string[] = [];
  const sub = b.subscribe("payment", async (batch) => {
    got.push(...batch.map((d) => d.messageId));
    return batch.map(() => ({ kind: "ack" as const }));
  }, { maxBatch: 50 });
  expect((await a.publish(Array.from({ length: 120 }, (_, i) => ({ id: `x${i}`, topic: "payments" as const, body: "{}" })))).failed).toEqual([]);
  await waitFor("all 120 consumed by the other connection", () => got.length === 120);
  expect(new Set(got).size).toBe(120);
  await sub.close();
  await a.close();
  await b.close();
});

test("a batch whose holder died is claimed again with one more attempt, and after max attempts each message reaches dlq", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-local-"));
  // Two holders whose clocks lag (two hours, one hour): their leases are expired for whoever comes next, as a dead
  // process's would be.
  const dead1 = createLocalTransport(await openDb(dir), { maxAttempts: 2, visibilityTimeoutMs: 1000, pollMs: 10, now: () => Date.now() - 7_200_000 });
  const dead2 = createLocalTransport(await openDb(dir), { maxAttempts: 2, visibilityTimeoutMs: 1000, pollMs: 10, now: () => Date.now() - 3_600_000 });
  const live = createLocalTransport(await openDb(dir), { maxAttempts: 2, visibilityTimeoutMs: 1000, pollMs: 10 });
  const never = new Promise<never>(() => {});
  const attempts: number[] = [];
  const hold = (t: typeof live) => t.subscribe("payment", async (batch) => {
    attempts.push(...batch.map((d) => d.attempt));
    return never;
  }, { maxBatch: 50 });
  expect((await live.publish(Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, topic: "payments" as const, body: `{"i":${i}}` })))).failed).toEqual([]);
  hold(dead1);
  await waitFor("first holder took the batch", () => attempts.length === 5);
  hold(dead2);
  await waitFor("second holder took it again", () => attempts.length === 10);
  expect(attempts).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
  const dlq: { body: string; source?: string; attempt: number }[] = [];
  const sub = live.subscribe("dlq", async (batch) => {
    dlq.push(...batch.map((d) => ({ body: d.body, source: d.deadLetterSource, attempt: d.attempt })));
    return batch.map(() => ({ kind: "ack" as const }));
  }, { maxBatch: 50 });
  const payment = live.subscribe("payment", async (batch) => batch.map(() => ({ kind: "ack" as const })), { maxBatch: 50 });
  await waitFor("all five in dlq", () => dlq.length === 5);
  expect(dlq.map((d) => d.body).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `{"i":${i}}`));
  expect(dlq.every((d) => d.source === "payment" && d.attempt === 1)).toBe(true);
  await sub.close();
  await payment.close();
  await live.close();
});

test("a batch acked inside the handler's transaction stays acked if its holder dies before settling; a rolled-back one comes back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-local-"));
  // The holder's clock lags two hours: to everyone else its lease expired at once, as a dead process's would.
  const deadHandle = await openDb(dir);
  const dead = createLocalTransport(deadHandle, { maxAttempts: 5, visibilityTimeoutMs: 1000, pollMs: 10, now: () => Date.now() - 7_200_000 });
  const liveHandle = await openDb(dir);
  const live = createLocalTransport(liveHandle, { maxAttempts: 5, visibilityTimeoutMs: 1000, pollMs: 10 });
  liveHandle.exec("CREATE TABLE effects (id TEXT PRIMARY KEY)");
  const publish = async (ids: string[]) => expect((await live.publish(ids.map((id) => ({ id, topic: "payments" as const, body: `{"id":"${id}"}` })))).failed).toEqual([]);

  // First batch: the effect and the ack commit together, then the holder hangs forever (never settles).
  await publish(["a1", "a2", "a3"]);
  let committed = 0;
  const held = dead.subscribe("payment", async (batch, ack) => {
    deadHandle.db.transaction(() => {
      for (const d of batch) deadHandle.prepare("INSERT INTO effects (id) VALUES (?)").run(d.messageId);
      ack!.ackInTransaction();
    }, { behavior: "immediate" });
    committed += batch.length;
    return new Promise<never>(() => {});
  }, { maxBatch: 50 });
  await waitFor("the dying holder committed its batch", () => committed === 3);

  // Second batch, for the live consumer, whose first transaction rolls back after acking inside it.
  await publish(["b1", "b2"]);
  const got: { id: string; attempt: number }[] = [];
  let failOnce = true;
  const sub = live.subscribe("payment", async (batch, ack) => {
    got.push(...batch.map((d) => ({ id: d.messageId, attempt: d.attempt })));
    liveHandle.db.transaction(() => {
      ack!.ackInTransaction();
      if (failOnce) {
        failOnce = false;
        throw new Error("the effect failed");
      }
    }, { behavior: "immediate" });
    return batch.map(() => ({ kind: "ack" as const }));
  }, { maxBatch: 50 });
  await waitFor("b1 and b2 delivered twice", () => got.length === 4);
  // a1..a3 never came back although their holder's lease expired; b1, b2 came back once after the rollback.
  expect(got).toEqual([{ id: "b1", attempt: 1 }, { id: "b2", attempt: 1 }, { id: "b1", attempt: 2 }, { id: "b2", attempt: 2 }]);
  await waitFor("the queue is empty", () => Object.keys(localQueueDepth(liveHandle)).length === 0);
  expect(liveHandle.prepare("SELECT id FROM effects ORDER BY id").all<{ id: string }>().map((r) => r.id)).toEqual(["a1", "a2", "a3"]);

  // Outside a transaction on the queue's connection the ack refuses (the handler throws; the batch is retried).
  await sub.close();
  const errors: string[] = [];
  const outside = live.subscribe("payment", async (batch, ack) => {
    try {
      ack!.ackInTransaction();
    } catch (error) {
      errors.push((error as Error).message);
      throw error;
    }
    return batch.map(() => ({ kind: "ack" as const }));
  }, { maxBatch: 50 });
  await publish(["c1"]);
  await waitFor("the ack outside a transaction refused", () => errors.length >= 1);
  expect(errors[0]).toBe("ackInTransaction needs an open transaction on the local queue's own connection");
  await outside.close();
  void held;
  await live.close();
});

test("a nack inside a batch redelivers only that message; the log is trimmed once every subscription is past it", async () => {
  const handle = await openDb(mkdtempSync(join(tmpdir(), "ecom-local-")));
  const t = createLocalTransport(handle, { maxAttempts: 5, visibilityTimeoutMs: 1000, pollMs: 10 });
  const got: { i: number; attempt: number }[] = [];
  const sub = t.subscribe("payment", async (batch) => {
    const items = batch.map((d) => ({ i: (JSON.parse(d.body) as { i: number }).i, attempt: d.attempt }));
    got.push(...items);
    return items.map((x) => (x.i === 3 && x.attempt === 1 ? { kind: "retry" as const, delayMs: 0 } : { kind: "ack" as const }));
  }, { maxBatch: 100 });
  expect((await t.publish(Array.from({ length: 6000 }, (_, i) => ({ id: `p${i}`, topic: "payments" as const, body: `{"i":${i}}` })))).failed).toEqual([]);
  await waitFor("all acked", () => got.length === 6001);
  expect(got.filter((x) => x.i === 3)).toEqual([{ i: 3, attempt: 1 }, { i: 3, attempt: 2 }]);
  expect(got.filter((x) => x.attempt === 2).length).toBe(1);
  await waitFor("queue empty", () => Object.keys(localQueueDepth(handle)).length === 0);
  // The trim runs every 5000 acks: by then the first 5000 payments were behind every cursor.
  const left = handle.prepare("SELECT count(*) AS n FROM local_log WHERE topic = 'payments'").get<{ n: number }>()!.n;
  expect(left).toBeLessThanOrEqual(1000);
  await sub.close();
  await t.close();
});

test("a data dir from the per-message queue (schema v1) keeps what it still owed after the upgrade", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-local-"));
  const { Database } = await import("bun:sqlite");
  const old = new Database(join(dir, "ecom.db"));
  for (const statement of MIGRATIONS[0]!.split(";").map((x) => x.trim()).filter(Boolean)) old.run(statement);
  old.run("PRAGMA user_version = 1");
  old.run(`INSERT INTO local_messages (seq, message_id, body, attributes) VALUES (7, 'o7', '{"o":7}', '{"type":"order"}'), (8, 'p8', '{"p":8}', NULL)`);
  old.run(`INSERT INTO local_deliveries (subscription, message_seq, attempts, visible_at, dead_letter_source)
    VALUES ('order', 7, 1, 0, NULL), ('analytics', 7, 0, 0, NULL), ('dlq', 8, 0, 0, 'payment')`);
  old.close();
  const handle = await openDb(dir);
  const t = createLocalTransport(handle, { maxAttempts: 5, visibilityTimeoutMs: 1000, pollMs: 10 });
  expect(localQueueDepth(handle)).toEqual({ order: 1, analytics: 1, dlq: 1 });
  const got: Record<string, { body: string; attempt: number; source?: string }[]> = { order: [], analytics: [], dlq: [] };
  const subs = (["order", "analytics", "dlq"] as const).map((s) =>
    t.subscribe(s, async (batch) => {
      got[s]!.push(...batch.map((d) => ({ body: d.body, attempt: d.attempt, source: d.deadLetterSource })));
      return batch.map(() => ({ kind: "ack" as const }));
    }, { maxBatch: 10 }),
  );
  await waitFor("all three delivered", () => got.order!.length + got.analytics!.length + got.dlq!.length === 3);
  expect(got).toEqual({
    order: [{ body: '{"o":7}', attempt: 2, source: undefined }],
    analytics: [{ body: '{"o":7}', attempt: 1, source: undefined }],
    dlq: [{ body: '{"p":8}', attempt: 1, source: "payment" }],
  });
  // New messages continue after the carried-over ones.
  expect((await t.publish([{ id: "o9", topic: "orders", body: '{"o":9}' }])).failed).toEqual([]);
  await waitFor("the new order", () => got.order!.length === 2);
  expect(got.order![1]!.body).toBe('{"o":9}');
  await Promise.all(subs.map((s) => s.close()));
  await t.close();
});

test("a subscription no process consumes holds nothing back once another of its topic is consumed; before that, nothing is trimmed", async () => {
  // The README's split layout: a producer, an order consumer, no analytics process, one data dir.
  const dir = mkdtempSync(join(tmpdir(), "ecom-local-"));
  const producer = createLocalTransport(await openDb(dir), { maxAttempts: 3, visibilityTimeoutMs: 1000, pollMs: 10 });
  const orders = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: `o${from + i}`, topic: "orders" as const, body: `{"i":${from + i}}` }));
  const logged = (handle: Awaited<ReturnType<typeof openDb>>) => handle.prepare("SELECT count(*) AS n FROM local_log WHERE topic = 'orders'").get<{ n: number }>()!.n;
  expect((await producer.publish(orders(0, 300))).failed).toEqual([]);

  const handle = await openDb(dir);
  expect(logged(handle)).toBe(300);
  const consumer = createLocalTransport(handle, { maxAttempts: 3, visibilityTimeoutMs: 1000, pollMs: 10 });
  const got: Record<string, string[]> = { order: [], analytics: [] };
  const consume = (s: "order" | "analytics") =>
    consumer.subscribe(s, async (batch) => {
      got[s]!.push(...batch.map((d) => d.messageId));
      return batch.map(() => ({ kind: "ack" as const }));
    }, { maxBatch: 100 });
  const order = consume("order");
  await waitFor("the producer's 300 orders, published before any consumer", () => got.order!.length === 300);
  // Trimmed when the consumer idles, though the analytics cursor (registered by every process) never moved.
  await waitFor("the orders log trimmed", () => logged(handle) === 0);
  expect(localQueueDepth(handle)).toEqual({});

  // Analytics started later gets what is published from then on, like a queue subscribed later.
  const analytics = consume("analytics");
  expect((await producer.publish(orders(300, 5))).failed).toEqual([]);
  await waitFor("5 more on both", () => got.order!.length === 305 && got.analytics!.length === 5);
  expect(got.analytics).toEqual(["o300", "o301", "o302", "o303", "o304"]);
  await Promise.all([order.close(), analytics.close()]);
  await Promise.all([producer.close(), consumer.close()]);
});
