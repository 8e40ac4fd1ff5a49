// The Cassandra schema: the statements of cassandra/schema.cql, migrate (what it created or found) and the check.
// @ts-ignore: Bun imports the file as a string (embedded in a compiled binary); TypeScript has no *.cql declaration.
import schemaCql from "../../../cassandra/schema.cql" with { type: "text" };
import { SchemaMissingError, type SchemaStep } from "../types.ts";
import { retried } from "./errors.ts";
import type { Session } from "./session.ts";
import type { Cql } from "./statements.ts";

/** DDL waits for schema agreement, which takes longer than a data request. */
const DDL_TIMEOUT_MS = 60_000;
const SCHEMA_HINT = "run `ecom migrate` or start with --auto-migrate";

interface SchemaStatement {
  /** What migrate reports, e.g. `keyspace ecom_store` or `table ecom_store.orders_payments_facts`. */
  object: string;
  cql: string;
}

/** The statements of cassandra/schema.cql for `keyspace` and `replication` (comments dropped, split on `;`). */
function schemaStatements(keyspace: string, replication: string): SchemaStatement[] {
  const text = (schemaCql as string)
    .split("\n")
    .filter((line) => !/^\s*(--|\/\/)/.test(line))
    .join("\n");
  return text
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const cql = s
        .replace(/\becom_store\b/g, keyspace)
        .replace(/replication\s*=\s*\{[^}]*\}/i, `replication = ${replication}`);
      const head = /^CREATE\s+(KEYSPACE|TABLE)\s+IF\s+NOT\s+EXISTS\s+([\w.]+)/i.exec(cql);
      return { object: head ? `${head[1]!.toLowerCase()} ${head[2]}` : cql.split(/\s+/).slice(0, 3).join(" "), cql };
    });
}

/** The pairs of a CQL replication map ('class' by its short name), as system_schema.keyspaces shows them. */
function replicationPairs(map: Record<string, string>): string[] {
  return Object.entries(map)
    .map(([k, v]) => `${k}=${k === "class" ? String(v).replace(/^.*\./, "") : String(v)}`)
    .sort();
}

/** Whether the keyspace's replication (from system_schema) is the CQL map asked for. */
function sameReplication(has: Record<string, string>, asked: string): boolean {
  const wanted: Record<string, string> = {};
  for (const m of asked.matchAll(/'([^']+)'\s*:\s*'?([^',}\s]+)'?/g)) wanted[m[1]!] = m[2]!;
  return replicationPairs(has).join(",") === replicationPairs(wanted).join(",");
}

function showReplication(has: Record<string, string>): string {
  return `{${replicationPairs(has).map((p) => p.replace("=", ": ")).join(", ")}}`;
}

/** Table names the schema creates, in file order (what checkSchema requires). */
const SCHEMA_TABLES = schemaStatements("ecom_store", "{}")
  .filter((s) => s.object.startsWith("table "))
  .map((s) => s.object.slice("table ecom_store.".length));

/** Applies cassandra/schema.cql (CREATE ... IF NOT EXISTS); an existing keyspace keeps its replication. */
export async function migrate(session: Session, cql: Cql, replication: string): Promise<SchemaStep[]> {
  const ks = session.keyspace;
  const found = (await session.read("migrate", cql.selectReplication, [ks])).first();
  const tables = new Set(
    found ? (await session.read("migrate", cql.selectTables, [ks])).rows.map((r) => r.table_name as string) : [],
  );
  const steps: SchemaStep[] = [];
  for (const s of schemaStatements(ks, replication)) {
    const options = { prepare: false, readTimeout: DDL_TIMEOUT_MS, executionProfile: "write" };
    await retried(`migrate (${s.object})`, DDL_TIMEOUT_MS, () => session.client.execute(s.cql, [], options));
    const resource = `cassandra ${s.object}`;
    if (s.object.startsWith("keyspace ")) {
      const has = found?.replication as Record<string, string> | undefined;
      const note = has && !sameReplication(has, replication)
        ? `replication kept as ${showReplication(has)}, not the ${replication.trim()} asked: ` +
          "ecom does not alter a keyspace (ALTER KEYSPACE, then repair)"
        : undefined;
      steps.push({ action: has ? "exists" : "created", resource, ...(note ? { note } : {}) });
    } else {
      steps.push({ action: tables.has(s.object.slice(`table ${ks}.`.length)) ? "exists" : "created", resource });
    }
  }
  return steps;
}

/** Rejects with SchemaMissingError naming the keyspace or the first missing table. */
export async function checkSchema(session: Session, cql: Cql): Promise<void> {
  const ks = session.keyspace;
  const keyspaces = await session.read("schema check", cql.selectKeyspace, [ks]);
  if (!keyspaces.first()) throw new SchemaMissingError(`keyspace ${ks} does not exist: ${SCHEMA_HINT}`);
  const tables = await session.read("schema check", cql.selectTables, [ks]);
  const present = new Set(tables.rows.map((r) => r.table_name as string));
  const missing = SCHEMA_TABLES.find((t) => !present.has(t));
  if (missing) throw new SchemaMissingError(`keyspace ${ks} has no table ${missing}: ${SCHEMA_HINT}`);
}
