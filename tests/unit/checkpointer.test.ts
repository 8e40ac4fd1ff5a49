// The WAL is copied back into the database file by the checkpointer thread, not by the writers.
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { openDb } from "../../src/db/open.ts";
import { waitFor } from "../helpers/wait.ts";

test("writes are checkpointed by the background thread; the writer's own auto-checkpoint is only a fallback", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-ckpt-"));
  const handle = await openDb(dir);
  expect(handle.prepare("PRAGMA wal_autocheckpoint").get<{ wal_autocheckpoint: number }>()!.wal_autocheckpoint).toBe(20000);
  const insert = handle.prepare("INSERT INTO outbox (id, topic, body, created_at) VALUES (?, 'orders', ?, 0)");
  const body = "x".repeat(400);
  for (let t = 0; t < 20; t++) handle.db.transaction(() => { for (let i = 0; i < 500; i++) insert.run(`m${t}-${i}`, body); });
  await waitFor("the checkpointer copied the WAL frames back", () => handle.checkpoints!.runs > 0 && handle.checkpoints!.frames > 100, { timeoutMs: 10_000 });
  expect(handle.checkpoints!.lastError).toBeNull();
  // 10,000 rows of 400 bytes: about 1,000 pages, now in the database file itself.
  await waitFor("the database file holds the rows", () => statSync(join(dir, "ecom.db")).size > 900 * 4096, { timeoutMs: 10_000 });
  expect(handle.prepare("SELECT count(*) AS n FROM outbox").get<{ n: number }>()!.n).toBe(10_000);
  handle.close();
});
