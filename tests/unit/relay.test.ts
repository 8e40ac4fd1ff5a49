// The relay's step against a real SQLite outbox and a scripted transport: what is marked sent, retried or left due.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { openDb } from "../../src/db/open.ts";
import { Outbox } from "../../src/outbox/outbox.ts";
import { drainOnce, Relay } from "../../src/outbox/relay.ts";
import type { Logger } from "../../src/log.ts";
import { waitFor } from "../helpers/wait.ts";
import { TransportError, type OutgoingMessage, type PublishResult, type Transport } from "../../src/transport/types.ts";

/** A transport whose publish answers with `answer` (the seam under test is the relay, not a broker). */
function scripted(answer: (messages: OutgoingMessage[]) => PublishResult): Transport & { calls: string[][] } {
  const calls: string[][] = [];
  const unused = () => {
    throw new Error("not used by the relay");
  };
  return {
    kind: "sns-sqs",
    calls,
    async publish(messages) {
      calls.push(messages.map((m) => m.id));
      return answer(messages);
    },
    subscribe: unused,
    ping: async () => {},
    provision: async () => [],
    teardown: async () => [],
    close: async () => {},
  };
}

async function outboxWith(ids: string[], now: () => number): Promise<{ outbox: Outbox; rows: () => { id: string; attempts: number; retry_at: number }[] }> {
  const handle = await openDb(mkdtempSync(join(tmpdir(), "ecom-relay-")));
  const outbox = new Outbox(handle, now);
  outbox.add(ids.map((id) => ({ id, topic: "orders" as const, body: `{"id":"${id}"}` })));
  const rows = () => handle.prepare("SELECT id, attempts, retry_at FROM outbox ORDER BY seq").all<{ id: string; attempts: number; retry_at: number }>();
  return { outbox, rows };
}

test("deferred messages stay due untouched; failed ones are released with one more attempt and a backoff; the rest are sent", async () => {
  const now = 1_000_000;
  const { outbox, rows } = await outboxWith(["a", "b", "c", "d", "e"], () => now);
  const transport = scripted(() => ({
    failed: [
      { id: "b", error: new TransportError("broker said no", true, { messageIds: ["b"] }) },
      { id: "d", error: new TransportError("held back", true, { messageIds: ["d"], deferred: true }) },
      { id: "e", error: new TransportError("held back", true, { messageIds: ["e"], deferred: true }) },
    ],
  }));
  expect(await drainOnce(outbox, transport, 100, 5_000)).toEqual({ claimed: 5, sent: 2 });
  expect(rows()).toEqual([
    { id: "b", attempts: 1, retry_at: now + 250 },
    { id: "d", attempts: 0, retry_at: 0 },
    { id: "e", attempts: 0, retry_at: 0 },
  ]);
  expect(outbox.stats()).toEqual({ pending: 3, sent: 2 });

  // The next step offers the deferred rows again at once; the failed one waits for its backoff.
  const again = scripted(() => ({ failed: [] }));
  expect(await drainOnce(outbox, again, 100, 5_000)).toEqual({ claimed: 2, sent: 2 });
  expect(again.calls).toEqual([["d", "e"]]);
  expect(rows()).toEqual([{ id: "b", attempts: 1, retry_at: now + 250 }]);
});

test("a publish that throws releases every claimed row with one more attempt", async () => {
  const now = 2_000_000;
  const { outbox, rows } = await outboxWith(["a", "b"], () => now);
  const transport = scripted(() => {
    throw new Error("unexpected");
  });
  expect(await drainOnce(outbox, transport, 100, 5_000)).toEqual({ claimed: 2, sent: 0 });
  expect(rows()).toEqual([
    { id: "a", attempts: 1, retry_at: now + 250 },
    { id: "b", attempts: 1, retry_at: now + 250 },
  ]);
});

test("a step that throws (the database failing) backs off, doubling, and is logged once, not on every try; new rows do not cut the back-off short", async () => {
  const { outbox } = await outboxWith(["a"], () => Date.now());
  const attempts: number[] = [];
  const failing = Object.create(outbox) as Outbox;
  failing.claim = () => {
    attempts.push(performance.now());
    throw new Error("SQLITE_FULL: database or disk is full");
  };
  const errors: unknown[] = [];
  const log = { error: (obj: unknown) => errors.push(obj), warn() {}, info() {}, debug() {} } as unknown as Logger;
  const relay = new Relay(failing, scripted(() => ({ failed: [] })), log, { batchSize: 100, pollMs: 10 });
  relay.start();
  await waitFor("two failed steps", () => attempts.length >= 2);
  // Rows arriving during the back-off wake the relay only once it is over.
  outbox.add([{ id: "b", topic: "orders", body: "{}" }]);
  await waitFor("four failed steps", () => attempts.length >= 4, { timeoutMs: 5_000 });
  await relay.stop(0);
  const gaps = attempts.slice(1, 4).map((t, i) => t - attempts[i]!);
  // 200, 400, 800 ms (100 ms * 2^failures), timers never early by more than a little
  expect(gaps.map((g, i) => g >= [190, 390, 790][i]!)).toEqual([true, true, true]);
  expect(errors.length).toBe(1);
});

test("a publish that outlasts the lease keeps it: another relay of the data dir claims nothing meanwhile", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-relay-"));
  const [a, b] = [await openDb(dir), await openDb(dir)];
  const mine = new Outbox(a);
  const other = new Outbox(b);
  mine.add(["x", "y"].map((id) => ({ id, topic: "orders" as const, body: `{"id":"${id}"}` })));
  let release!: () => void;
  const slow = scripted(() => ({ failed: [] }));
  const publishing = new Promise<void>((resolve) => (release = resolve));
  slow.publish = async (messages) => {
    slow.calls.push(messages.map((m) => m.id));
    await publishing;
    return { failed: [] };
  };
  const step = drainOnce(mine, slow, 10, 200);
  await waitFor("the publish started", () => slow.calls.length === 1);
  // Three lease terms into the publish, the other relay still finds the lease held.
  const until = Date.now() + 600;
  while (Date.now() < until) {
    expect(other.claim(10, 200)).toEqual([]);
    await Bun.sleep(25);
  }
  release();
  expect(await step).toEqual({ claimed: 2, sent: 2 });
  expect(b.prepare("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 0 });
  a.close();
  b.close();
});
