// Runs under Node (bundled by tests/unit/node-sqlite.test.ts): the outbox and inbox on better-sqlite3.
// Usage: node x.mjs DATA_DIR  → prints one JSON object with what each step returned.
import { openDb } from "../../src/db/open.ts";
import { Counters, Inbox } from "../../src/inbox/inbox.ts";
import { Outbox } from "../../src/outbox/outbox.ts";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node outbox-inbox.node.mjs DATA_DIR");
  process.exit(2);
}

// A clock the script moves by hand keeps the output exact.
let now = 1_700_000_000_000;
const clock = () => now;
const handle = await openDb(dir);
const outbox = new Outbox(handle, clock);
const inbox = new Inbox(handle, clock);
const counters = new Counters(handle);

const driver = "Bun" in globalThis ? "bun:sqlite" : "better-sqlite3";

// Outbox rows and a counter written in one transaction, as the roles do.
handle.db.transaction((tx) => {
  outbox.add(
    [
      { id: "m1", topic: "orders", body: '{"n":1}', orderingKey: "1" },
      { id: "m2", topic: "payments", body: '{"n":2}', attributes: { type: "payment" } },
      { id: "m3", topic: "orders", body: '{"n":3}' },
    ],
    tx,
  );
  counters.add("producer", { orders: 2, payments: 1 }, tx);
}, { behavior: "immediate" });
// A transaction that fails leaves nothing behind.
let rolledBack = false;
try {
  handle.db.transaction((tx) => {
    outbox.add([{ id: "m-rolled-back", topic: "orders", body: "{}" }], tx);
    throw new Error("abort");
  });
} catch {
  rolledBack = true;
}

const lastSeq = outbox.lastSeq();
const claimed = outbox.claim(2, 5_000);
outbox.markSent(claimed.map((r) => r.seq));
const afterSent = outbox.stats();
const rest = outbox.claim(10, 5_000);
outbox.release(rest.map((r) => r.seq), 60_000, "broker down");
const dueAfterRelease = outbox.claim(10, 5_000).length;
// The relay lease: a second relay on the data dir waits while the first holds it, takes it once released,
// and the first takes it back only after the second's lease expired.
const other = new Outbox(handle, clock);
const lease: Record<string, boolean> = { otherWhileHeld: other.lease(5_000) };
outbox.releaseLease();
lease.otherAfterRelease = other.lease(5_000);
lease.firstWhileOtherHolds = outbox.lease(5_000);
now += 6_000;
lease.firstAfterExpiry = outbox.lease(5_000);
outbox.releaseLease();

const firstSeen = inbox.seen("order", [{ messageId: "e1", businessKey: "1" }, { messageId: "e2", businessKey: "2" }]);
const recorded = handle.db.transaction((tx) => inbox.record("order", [{ messageId: "e1", businessKey: "1" }, { messageId: "e2", businessKey: "2" }], tx));
const again = inbox.record("order", [{ messageId: "e9", businessKey: "2" }, { messageId: "e3", businessKey: null }]);
const seenAfter = inbox.seen("order", [{ messageId: "x", businessKey: "1" }, { messageId: "e3", businessKey: null }, { messageId: "e4", businessKey: "4" }]);
const otherConsumer = inbox.seen("analytics", [{ messageId: "e1", businessKey: "1" }]);

console.log(
  JSON.stringify({
    driver,
    rolledBack,
    lastSeq,
    claimed: claimed.map((r) => ({ seq: r.seq, id: r.id, topic: r.topic, body: r.body, attributes: r.attributes ?? null, orderingKey: r.orderingKey ?? null, attempts: r.attempts })),
    afterSent,
    rest: rest.map((r) => r.id),
    dueAfterRelease,
    lease,
    firstSeen,
    recorded,
    again,
    seenAfter,
    otherConsumer,
    counters: counters.get("producer"),
  }),
);
handle.close();
