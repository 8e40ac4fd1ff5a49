// The DynamoDB tables of SPEC §7: their definitions, idempotent creation (waited on until ACTIVE) and the start check.
import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTableCommand,
  type AttributeDefinition,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type TableDescription,
} from "@aws-sdk/client-dynamodb";
import type { DynamoConfig } from "../../config/types.ts";
import { SchemaMissingError, StoreError, type SchemaStep } from "../types.ts";
import { isMissingTable, toStoreError, withRetry } from "./errors.ts";
import { INDEX, type TableNames } from "./names.ts";


interface IndexDef {
  name: string;
  hash: [string, "S" | "N"];
  range: [string, "S" | "N"];
  /** Non-key attributes copied into the index (KEYS_ONLY when empty). */
  include: string[];
}
interface TableDef {
  name: string;
  key: [string, "S" | "N"];
  indexes: IndexDef[];
}

/**
 * Every index projects keys (and at most a filter attribute): a page is read from the base table by key, consistently,
 * so an index entry that lags its item (GSIs are eventually consistent) is checked against the item before use, and a
 * payment update of a fact (attributes no index holds) costs no index write.
 */
export function tableDefs(names: TableNames): TableDef[] {
  return [
    { name: names.facts, key: ["order_id", "N"], indexes: [{ name: INDEX.byCustomer, hash: ["customer_id", "N"], range: ["creation_date", "S"], include: [] }] },
    { name: names.payments, key: ["payment_id", "N"], indexes: [] },
    {
      name: names.deadLetters,
      key: ["id", "S"],
      indexes: [
        { name: INDEX.byStatus, hash: ["status", "S"], range: ["list_key", "S"], include: ["reason"] },
        { name: INDEX.byReason, hash: ["reason", "S"], range: ["list_key", "S"], include: ["status"] },
        { name: INDEX.due, hash: ["due_reason", "S"], range: ["next_retry_at", "S"], include: [] },
      ],
    },
  ];
}

const SCHEMA_HINT = "run `ecom migrate` or start with --auto-migrate";
/** Table and index creation on DynamoDB takes seconds to minutes; on moto it is immediate. */
const ACTIVE_TIMEOUT_MS = 10 * 60_000;
const ACTIVE_POLL_MS = 500;

function throughput(config: DynamoConfig) {
  return config.billingMode === "provisioned" ? { ProvisionedThroughput: { ReadCapacityUnits: config.readCapacity, WriteCapacityUnits: config.writeCapacity } } : {};
}

function gsi(def: IndexDef, config: DynamoConfig): GlobalSecondaryIndex {
  return {
    IndexName: def.name,
    KeySchema: [{ AttributeName: def.hash[0], KeyType: "HASH" }, { AttributeName: def.range[0], KeyType: "RANGE" }],
    Projection: def.include.length ? { ProjectionType: "INCLUDE", NonKeyAttributes: def.include } : { ProjectionType: "KEYS_ONLY" },
    ...throughput(config),
  };
}

function attributeDefs(defs: [string, "S" | "N"][]): AttributeDefinition[] {
  const seen = new Map(defs.map(([name, type]) => [name, type]));
  return [...seen].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

async function describe(client: DynamoDBClient, table: string, budgetMs: number): Promise<TableDescription | null> {
  try {
    const out = await withRetry(`describe of table ${table}`, budgetMs, () => client.send(new DescribeTableCommand({ TableName: table })));
    return out.Table ?? null;
  } catch (error) {
    if (isMissingTable((error as StoreError).cause ?? error)) return null;
    throw error;
  }
}

/** Waits until the table and every index it has are ACTIVE. */
async function waitActive(client: DynamoDBClient, table: string, budgetMs: number): Promise<void> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (;;) {
    const t = await describe(client, table, budgetMs);
    const active = t?.TableStatus === "ACTIVE" && (t.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === "ACTIVE");
    if (active) return;
    if (Date.now() > deadline) throw new StoreError(`dynamodb: table ${table} is not ACTIVE after ${ACTIVE_TIMEOUT_MS / 1000} s (status ${t?.TableStatus ?? "absent"})`, true);
    await Bun.sleep(ACTIVE_POLL_MS);
  }
}

const keyText = (ks: KeySchemaElement[] | undefined) => (ks ?? []).map((k) => `${k.AttributeName} ${k.KeyType}`).join(", ");

/**
 * Creates each table that is missing and adds each index a table lacks (one at a time: DynamoDB takes one index
 * creation per UpdateTable), waiting until everything is ACTIVE. An existing table keeps its billing mode and
 * capacity; a key or index that differs from the definition is reported in a note, not changed.
 */
export async function migrate(client: DynamoDBClient, config: DynamoConfig, names: TableNames): Promise<SchemaStep[]> {
  const budget = config.requestTimeoutMs;
  const steps: SchemaStep[] = [];
  for (const def of tableDefs(names)) {
    const resource = `dynamodb table ${def.name}`;
    const existing = await describe(client, def.name, budget);
    if (!existing) {
      const attrs = attributeDefs([def.key, ...def.indexes.flatMap((i) => [i.hash, i.range])]);
      await withRetry(`create of table ${def.name}`, budget, () =>
        client.send(
          new CreateTableCommand({
            TableName: def.name,
            KeySchema: [{ AttributeName: def.key[0], KeyType: "HASH" }],
            AttributeDefinitions: attrs,
            BillingMode: config.billingMode === "provisioned" ? "PROVISIONED" : "PAY_PER_REQUEST",
            ...throughput(config),
            ...(def.indexes.length ? { GlobalSecondaryIndexes: def.indexes.map((i) => gsi(i, config)) } : {}),
          }),
        ),
      ).catch((error) => {
        // Another process created it meanwhile: that is the table asked for.
        if ((error as StoreError).cause && (error as { cause: { name?: string } }).cause.name === "ResourceInUseException") return;
        throw error;
      });
      await waitActive(client, def.name, budget);
      steps.push({ action: "created", resource });
      continue;
    }
    const notes: string[] = [];
    if (keyText(existing.KeySchema) !== `${def.key[0]} HASH`) notes.push(`its key is ${keyText(existing.KeySchema)}, not ${def.key[0]} HASH: ecom does not change a table's key`);
    const has = new Map((existing.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i]));
    const added: string[] = [];
    for (const index of def.indexes) {
      const found = has.get(index.name);
      if (found) {
        const want = `${index.hash[0]} HASH, ${index.range[0]} RANGE`;
        if (keyText(found.KeySchema) !== want) notes.push(`index ${index.name} is on ${keyText(found.KeySchema)}, not ${want}: drop it to have it re-created`);
        continue;
      }
      const existingBilling = existing.BillingModeSummary?.BillingMode === "PAY_PER_REQUEST" ? "on-demand" : existing.ProvisionedThroughput?.WriteCapacityUnits ? "provisioned" : "on-demand";
      await withRetry(`index ${index.name} of table ${def.name}`, budget, () =>
        client.send(
          new UpdateTableCommand({
            TableName: def.name,
            AttributeDefinitions: attributeDefs([def.key, index.hash, index.range]),
            GlobalSecondaryIndexUpdates: [{ Create: gsi(index, { ...config, billingMode: existingBilling }) }],
          }),
        ),
      );
      await waitActive(client, def.name, budget);
      added.push(index.name);
    }
    const note = [...(added.length ? [`index ${added.join(", ")} added`] : []), ...notes].join("; ");
    steps.push({ action: added.length ? "updated" : "exists", resource, ...(note ? { note } : {}) });
  }
  return steps;
}

/** Rejects with SchemaMissingError naming the first table or index that is missing. */
export async function checkSchema(client: DynamoDBClient, config: DynamoConfig, names: TableNames): Promise<void> {
  for (const def of tableDefs(names)) {
    let table: TableDescription | null;
    try {
      table = await describe(client, def.name, config.requestTimeoutMs);
    } catch (error) {
      throw toStoreError(`schema check of table ${def.name}`, error);
    }
    if (!table) throw new SchemaMissingError(`dynamodb table ${def.name} does not exist: ${SCHEMA_HINT}`);
    const indexes = new Set((table.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
    const missing = def.indexes.find((i) => !indexes.has(i.name));
    if (missing) throw new SchemaMissingError(`dynamodb table ${def.name} has no index ${missing.name}: ${SCHEMA_HINT}`);
  }
}
