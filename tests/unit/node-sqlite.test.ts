// The outbox and inbox on Node with better-sqlite3: a bundled script runs under `node`, then Bun reads its data dir.
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { openDb } from "../../src/db/open.ts";
import { MIGRATIONS } from "../../src/db/migrations.ts";
import { Counters, Inbox } from "../../src/inbox/inbox.ts";
import { Outbox } from "../../src/outbox/outbox.ts";
import { ROOT, tempDir } from "../helpers/ecom.ts";

const T0 = 1_700_000_000_000;

test("outbox and inbox run on Node + better-sqlite3, and Bun reads what Node wrote", async () => {
  const tmp = tempDir("ecom-node-");
  // The bundle keeps better-sqlite3 external: node resolves it from a node_modules beside the bundle.
  symlinkSync(join(ROOT, "node_modules"), join(tmp, "node_modules"));
  const bundle = join(tmp, "x.mjs");
  // drizzle-orm/bun-sqlite stays external too (as better-sqlite3 is for the binary): its `bun:sqlite` import
  // would otherwise be hoisted to the bundle's top level; open.ts never loads it outside Bun.
  const build = Bun.spawnSync(
    [process.execPath, "build", "--target=node", "--external", "better-sqlite3", "--external", "drizzle-orm/bun-sqlite", "--outfile", bundle, "tests/node/outbox-inbox.node.ts"],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  expect(build.stderr.toString()).toBe("");
  expect(build.exitCode).toBe(0);

  const dir = join(tmp, "data");
  const run = Bun.spawnSync(["node", bundle, dir], { cwd: tmp, stdout: "pipe", stderr: "pipe" });
  expect(run.stderr.toString()).toBe("");
  expect(run.exitCode).toBe(0);
  expect(JSON.parse(run.stdout.toString())).toEqual({
    driver: "better-sqlite3",
    rolledBack: true,
    lastSeq: 3,
    claimed: [
      { seq: 1, id: "m1", topic: "orders", body: '{"n":1}', attributes: null, orderingKey: "1", attempts: 0 },
      { seq: 2, id: "m2", topic: "payments", body: '{"n":2}', attributes: { type: "payment" }, orderingKey: null, attempts: 0 },
    ],
    afterSent: { pending: 1, sent: 2 },
    rest: ["m3"],
    dueAfterRelease: 0,
    lease: { otherWhileHeld: false, otherAfterRelease: true, firstWhileOtherHolds: false, firstAfterExpiry: true },
    firstSeen: [false, false],
    recorded: [true, true],
    again: [false, true],
    seenAfter: [true, true, false],
    otherConsumer: [false],
    counters: { orders: 2, payments: 1 },
  });

  // The same data dir under Bun (bun:sqlite): same schema version, the rows Node wrote, readable by the same classes.
  const handle = await openDb(dir);
  try {
    expect(handle.db.all<{ user_version: number }>(sql`PRAGMA user_version`)).toEqual([{ user_version: MIGRATIONS.length }]);
    expect(handle.db.all<{ journal_mode: string }>(sql`PRAGMA journal_mode`)).toEqual([{ journal_mode: "wal" }]);
    expect(handle.db.all(sql`SELECT seq, id, topic, body, attributes, ordering_key, attempts, retry_at, last_error FROM outbox ORDER BY seq`)).toEqual([
      { seq: 3, id: "m3", topic: "orders", body: '{"n":3}', attributes: null, ordering_key: null, attempts: 1, retry_at: T0 + 60_000, last_error: "broker down" },
    ]);
    expect(handle.db.all(sql`SELECT consumer, key, message_id, processed_at FROM inbox ORDER BY key`)).toEqual([
      { consumer: "order", key: "k:1", message_id: "e1", processed_at: T0 + 6_000 },
      { consumer: "order", key: "k:2", message_id: "e2", processed_at: T0 + 6_000 },
      { consumer: "order", key: "m:e3", message_id: "e3", processed_at: T0 + 6_000 },
    ]);
    expect(handle.db.all(sql`SELECT scope, name, value FROM counters ORDER BY scope, name`)).toEqual([
      { scope: "outbox", name: "sent", value: 2 },
      { scope: "producer", name: "orders", value: 2 },
      { scope: "producer", name: "payments", value: 1 },
    ]);
    expect(handle.db.all(sql`SELECT count(*) AS n FROM relay_lease`)).toEqual([{ n: 0 }]);

    const outbox = new Outbox(handle, () => T0 + 60_000);
    expect(outbox.stats()).toEqual({ pending: 1, sent: 2 });
    const due = outbox.claim(10, 5_000);
    expect(due.map((r) => [r.seq, r.id, r.attempts])).toEqual([[3, "m3", 1]]);
    outbox.markSent(due.map((r) => r.seq));
    outbox.releaseLease();
    expect(outbox.stats()).toEqual({ pending: 0, sent: 3 });

    const inbox = new Inbox(handle, () => T0);
    expect(inbox.seen("order", [{ messageId: null, businessKey: "1" }, { messageId: null, businessKey: "2" }, { messageId: "e3", businessKey: null }, { messageId: null, businessKey: "3" }])).toEqual([true, true, true, false]);
    expect(inbox.record("order", [{ messageId: "e5", businessKey: "2" }, { messageId: "e6", businessKey: "6" }])).toEqual([false, true]);
    expect(new Counters(handle).get("producer")).toEqual({ orders: 2, payments: 1 });
  } finally {
    handle.close();
  }
}, 60_000);
