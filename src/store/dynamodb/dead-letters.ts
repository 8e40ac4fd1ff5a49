// Dead-letter records in the dead_letters table: writes, listing with cursors, counts and due retries.
//
// Which calls are which, and why: every read here is a GetItem, a BatchGetItem or a Query of one index partition;
// there is no Scan. Listing and counts Query by_status (partition = a status) or by_reason (partition = a reason),
// so they read the index entries of the records asked for, never the table; the due retries Query the sparse `due`
// index, which holds only pending records with a next retry, up to `now`: the dlq role's poll, the hot path, reads
// the due records and nothing else. Counting a status reads that status's index entries (keys and one attribute):
// the same order of work as Cassandra's listing indexes, cheap for pending, growing with the reconciled history.
import { GetItemCommand, PutItemCommand, QueryCommand, type PutItemCommandInput, type QueryCommandInput } from "@aws-sdk/client-dynamodb";
import {
  DEAD_LETTER_STATUSES,
  type DeadLetterInput,
  type DeadLetterReason,
  type DeadLetterRecord,
  type DeadLetterStatus,
} from "../../domain/model.ts";
import { StoreError, type DeadLetterPage, type DeadLetterQuery, type DeadLetterUpdate } from "../types.ts";
import { roundsByKey, type Requests } from "./batches.ts";
import { isConditionFailed } from "./errors.ts";
import { deadLetterItem, fitDeadLetter, mergeDeadLetter, toDeadLetter, type Item } from "./items.ts";
import { INDEX } from "./names.ts";
import { describeIds } from "../describe.ts";

/** Writes of one record that met another writer's change in a row before the call gives up (retryable). */
const CONFLICT_ROUNDS = 10;

interface Stored {
  record: DeadLetterRecord;
  /** The item's revision: each write sets rev + 1 on the condition that rev is still what was read. */
  rev: number;
}

const idKey = (id: string): Item => ({ id: { S: id } });

const encodeCursor = (listKey: string) => Buffer.from(JSON.stringify(["d1", listKey])).toString("base64url");
function decodeCursor(cursor: string): string {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(value) && value.length === 2 && value[0] === "d1" && typeof value[1] === "string") return value[1];
  } catch {
    // fall through to the error below
  }
  throw new StoreError(`cursor ${JSON.stringify(cursor.slice(0, 40))} was not issued by this store: pass the \`next\` of a previous page`, false);
}

/** One index partition a listing reads: the index, its partition value, and a filter on the other attribute. */
interface Partition {
  index: string;
  hashName: "status" | "reason";
  hash: string;
  filter?: { name: "status" | "reason"; value: string };
}

export class DeadLetters {
  constructor(
    private readonly req: Requests,
    private readonly table: string,
    /** The API's lane (get, list, counts). */
    private readonly reads: Requests = req,
  ) {}

  /**
   * Reads the stored records, merges each input in (see mergeDeadLetter) and writes it back with a condition on the
   * revision read, so two writers of one record (the dlq role consuming a repeat while its reconciliation pass
   * updates the record) never lose each other's change: the one that meets a change reads again and re-merges.
   * An original that would take the item past DynamoDB's 400 KB is cut (fitDeadLetter) rather than refused.
   */
  async put(records: DeadLetterInput[], nextRetryAt: string | null): Promise<void> {
    const now = new Date().toISOString();
    for (const round of roundsByKey(records, (r) => [r.id])) {
      const inputs = round.map((r) => fitDeadLetter(r, nextRetryAt, now));
      await this.rewrite(inputs.map((r) => r.id), (id, previous) => {
        const input = inputs.find((r) => r.id === id)!;
        return mergeDeadLetter(input, previous, nextRetryAt, now);
      });
    }
  }

  /** Applies partial updates (unknown ids are ignored), updated_at = now. */
  async update(updates: DeadLetterUpdate[]): Promise<void> {
    for (const round of roundsByKey(updates, (u) => [u.id])) {
      const now = new Date().toISOString();
      const byId = new Map(round.map((u) => [u.id, u]));
      await this.rewrite([...byId.keys()], (id, previous) => {
        const u = byId.get(id)!;
        if (!previous) return null;
        return {
          ...previous,
          status: u.status ?? previous.status,
          attempts: u.attempts ?? previous.attempts,
          next_retry_at: u.next_retry_at === undefined ? previous.next_retry_at : u.next_retry_at,
          last_seen: u.last_seen ?? previous.last_seen,
          updated_at: now,
        };
      });
    }
  }

  /** Read, compute, conditional PutItem per record (distinct ids), concurrently; `compute` null = leave it. */
  private async rewrite(ids: string[], compute: (id: string, previous: DeadLetterRecord | null) => DeadLetterRecord | null): Promise<void> {
    if (ids.length === 0) return;
    const stored = await this.readMany(ids);
    await Promise.all(ids.map((id) => this.writeOne(id, stored.get(id) ?? null, compute)));
  }

  private async writeOne(id: string, stored: Stored | null, compute: (id: string, previous: DeadLetterRecord | null) => DeadLetterRecord | null): Promise<void> {
    const client = this.req.client;
    for (let round = 1; ; round++) {
      const record = compute(id, stored?.record ?? null);
      if (!record) return;
      const rev = stored ? stored.rev + 1 : 1;
      const condition: Pick<PutItemCommandInput, "ConditionExpression" | "ExpressionAttributeNames" | "ExpressionAttributeValues"> = !stored
        ? { ConditionExpression: "attribute_not_exists(#id)", ExpressionAttributeNames: { "#id": "id" } }
        : stored.rev === 0
          ? { ConditionExpression: "attribute_not_exists(#rev)", ExpressionAttributeNames: { "#rev": "rev" } }
          : { ConditionExpression: "#rev = :rev", ExpressionAttributeNames: { "#rev": "rev" }, ExpressionAttributeValues: { ":rev": { N: String(stored.rev) } } };
      const written = await this.req.send(`write of dead letter ${id}`, async () => {
        try {
          await client.send(new PutItemCommand({ TableName: this.table, Item: { ...deadLetterItem(record), rev: { N: String(rev) } }, ...condition }));
          return true;
        } catch (error) {
          if (isConditionFailed(error)) return false;
          throw error;
        }
      });
      if (written) return;
      if (round >= CONFLICT_ROUNDS) throw new StoreError(`dynamodb: write of dead letter ${id} failed: changed by another writer ${round} times in a row`, true);
      stored = await this.readOne(id);
    }
  }

  private async readOne(id: string, req = this.req): Promise<Stored | null> {
    const out = await req.send(`read of dead letter ${id}`, () =>
      req.client.send(new GetItemCommand({ TableName: this.table, Key: idKey(id), ConsistentRead: true })),
    );
    return out.Item ? stored(out.Item as Item) : null;
  }

  private async readMany(ids: string[], req = this.req): Promise<Map<string, Stored>> {
    const unique = [...new Set(ids)];
    const items = await req.batchGet(`read of ${describeIds("dead letter", unique)}`, this.table, unique.map(idKey));
    return new Map(items.map((item) => [item.id!.S!, stored(item)]));
  }

  async get(id: string): Promise<DeadLetterRecord | null> {
    return (await this.readOne(id, this.reads))?.record ?? null;
  }

  /**
   * Newest first_seen first. Queries (descending on list_key = first_seen|id) by_status for a status, by_reason for a
   * reason alone, or the four status partitions merged when neither is given; the other filter is a FilterExpression
   * on the attribute the index carries. The cursor is the last list_key of a page: the next page starts below it in
   * every partition (keyset paging, no gap or repeat). The total is a Query with Select COUNT of the same partitions.
   */
  async list(query: DeadLetterQuery): Promise<DeadLetterPage> {
    const below = query.cursor ? decodeCursor(query.cursor) : undefined;
    const partitions = partitionsOf(query);
    const [keys, total] = await Promise.all([
      Promise.all(partitions.map((p) => this.keys(p, query.limit + 1, below))).then((lists) => lists.flat().sort((a, b) => (a.listKey < b.listKey ? 1 : -1))),
      Promise.all(partitions.map((p) => this.count(p))).then((counts) => counts.reduce((a, b) => a + b, 0)),
    ]);
    const page = keys.slice(0, query.limit);
    const found = await this.readMany(page.map((k) => k.id), this.reads);
    // An index entry read just before its record changed status or reason names a record that no longer matches.
    const items = page.flatMap((k) => {
      const r = found.get(k.id)?.record;
      return r && (!query.status || r.status === query.status) && (!query.reason || r.reason === query.reason) ? [r] : [];
    });
    const more = keys.length > query.limit;
    return { items, total, next: more && page.length ? encodeCursor(page.at(-1)!.listKey) : null };
  }

  private queryOf(p: Partition, below?: string): QueryCommandInput {
    const names: Record<string, string> = { "#h": p.hashName };
    const values: Item = { ":h": { S: p.hash } };
    let key = "#h = :h";
    if (below !== undefined) {
      key += " AND list_key < :below";
      values[":below"] = { S: below };
    }
    const filter = p.filter ? { FilterExpression: "#f = :f" } : {};
    if (p.filter) {
      names["#f"] = p.filter.name;
      values[":f"] = { S: p.filter.value };
    }
    return { TableName: this.table, IndexName: p.index, KeyConditionExpression: key, ExpressionAttributeNames: names, ExpressionAttributeValues: values, ...filter };
  }

  /** Up to `limit` index entries of a partition below the cursor, newest first (pages until enough pass the filter). */
  private async keys(p: Partition, limit: number, below?: string): Promise<{ id: string; listKey: string }[]> {
    const keys: { id: string; listKey: string }[] = [];
    let start: Item | undefined;
    do {
      const out = await this.reads.send(`list of dead letters (${p.hashName} ${p.hash})`, () =>
        this.reads.client.send(new QueryCommand({ ...this.queryOf(p, below), ScanIndexForward: false, Limit: limit, ExclusiveStartKey: start })),
      );
      for (const item of out.Items ?? []) keys.push({ id: item.id!.S!, listKey: item.list_key!.S! });
      start = out.LastEvaluatedKey as Item | undefined;
    } while (start && keys.length < limit);
    return keys.slice(0, limit);
  }

  private async count(p: Partition): Promise<number> {
    let total = 0;
    let start: Item | undefined;
    do {
      const out = await this.reads.send(`count of dead letters (${p.hashName} ${p.hash})`, () =>
        this.reads.client.send(new QueryCommand({ ...this.queryOf(p), Select: "COUNT", ExclusiveStartKey: start })),
      );
      total += out.Count ?? 0;
      start = out.LastEvaluatedKey as Item | undefined;
    } while (start);
    return total;
  }

  /**
   * A Query of the sparse `due` index (due_reason, next_retry_at <= now, ascending), then the records by key: one
   * whose state moved on since the index entry was written (reconciled, rescheduled) is left out.
   */
  async due(reason: DeadLetterReason, now: string, limit: number): Promise<DeadLetterRecord[]> {
    if (limit < 1) return [];
    const ids: string[] = [];
    let start: Item | undefined;
    do {
      const out = await this.req.send(`due dead letters of ${reason}`, () =>
        this.req.client.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: INDEX.due,
            KeyConditionExpression: "due_reason = :r AND next_retry_at <= :now",
            ExpressionAttributeValues: { ":r": { S: reason }, ":now": { S: now } },
            ScanIndexForward: true,
            Limit: limit - ids.length,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of out.Items ?? []) ids.push(item.id!.S!);
      start = out.LastEvaluatedKey as Item | undefined;
    } while (start && ids.length < limit);
    if (ids.length === 0) return [];
    const found = await this.readMany(ids);
    return [...found.values()]
      .map((s) => s.record)
      .filter((r) => r.status === "pending" && r.reason === reason && r.next_retry_at !== null && r.next_retry_at <= now)
      .sort((a, b) => (a.next_retry_at! < b.next_retry_at! ? -1 : a.next_retry_at! > b.next_retry_at! ? 1 : 0))
      .slice(0, limit);
  }

  /** A Query with Select COUNT per status partition of by_status. */
  async counts(): Promise<Record<DeadLetterStatus, number>> {
    const counts = await Promise.all(DEAD_LETTER_STATUSES.map((status) => this.count({ index: INDEX.byStatus, hashName: "status", hash: status })));
    return Object.fromEntries(DEAD_LETTER_STATUSES.map((s, i) => [s, counts[i]!])) as Record<DeadLetterStatus, number>;
  }
}

function stored(item: Item): Stored {
  return { record: toDeadLetter(item), rev: item.rev?.N === undefined ? 0 : Number(item.rev.N) };
}

function partitionsOf(query: DeadLetterQuery): Partition[] {
  if (query.status) {
    return [{ index: INDEX.byStatus, hashName: "status", hash: query.status, ...(query.reason ? { filter: { name: "reason" as const, value: query.reason } } : {}) }];
  }
  if (query.reason) return [{ index: INDEX.byReason, hashName: "reason", hash: query.reason }];
  return DEAD_LETTER_STATUSES.map((status) => ({ index: INDEX.byStatus, hashName: "status" as const, hash: status }));
}
