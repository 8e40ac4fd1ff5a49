// The store contract against the embedded SQLite store (a real SQLite file).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../../src/db/open.ts";
import { createSqliteStore } from "../../src/store/sqlite.ts";
import { storeContract } from "../contract/store.contract.ts";

storeContract("sqlite", async () => createSqliteStore(await openDb(mkdtempSync(join(tmpdir(), "ecom-store-")))));
