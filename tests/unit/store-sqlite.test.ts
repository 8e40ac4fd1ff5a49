// The store contract against the embedded SQLite store (a real SQLite file).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { MIGRATIONS } from "../../src/db/migrations.ts";
import { openDb } from "../../src/db/open.ts";
import { createSqliteStore } from "../../src/store/sqlite.ts";
import { storeContract } from "../contract/store.contract.ts";

storeContract("sqlite", async () => createSqliteStore(await openDb(mkdtempSync(join(tmpdir(), "ecom-store-")))));

test("the facts table keeps only the payment index: a data dir from before v3 loses its index by customer at open", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-store-"));
  const { Database } = await import("bun:sqlite");
  const old = new Database(join(dir, "ecom.db"));
  for (const migration of MIGRATIONS.slice(0, 2)) for (const statement of migration.split(";").map((x) => x.trim()).filter(Boolean)) old.run(statement);
  old.run("PRAGMA user_version = 2");
  old.run("INSERT INTO orders_payments_facts (order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date) VALUES (1, 7, 'Widget', 1, 2.5, 'a', 'created', '2026-01-01T00:00:00Z'), (2, 7, 'Widget', 1, 2.5, 'a', 'created', '2026-01-02T00:00:00Z')");
  const indexes = (db: { prepare(t: string): { all(): unknown[] } }) =>
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders_payments_facts' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  expect(indexes(old)).toEqual(["facts_by_customer", "facts_by_payment"]);
  old.close();
  const handle = await openDb(dir);
  expect(indexes({ prepare: (t) => ({ all: () => handle.prepare(t).all() }) })).toEqual(["facts_by_payment"]);
  // The query the index served still answers (by a scan), newest first.
  expect((await createSqliteStore(handle).ordersByCustomer(7, 10)).map((f) => f.order_id)).toEqual([2, 1]);
  handle.close();
});
