// The transport contract against the embedded SQLite queue, plus its own cross-process guarantees.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { openDb } from "../../src/db/open.ts";
import { createLocalTransport } from "../../src/transport/local.ts";
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
