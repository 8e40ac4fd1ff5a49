// The relay's step against a real SQLite outbox and a scripted transport: what is marked sent, retried or left due.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { openDb } from "../../src/db/open.ts";
import { Outbox } from "../../src/outbox/outbox.ts";
import { drainOnce } from "../../src/outbox/relay.ts";
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
