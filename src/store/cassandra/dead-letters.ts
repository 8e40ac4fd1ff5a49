// Dead-letter records and their three index tables (by day, the days, due for retry), with the rules that keep them
// consistent and the scans of dead_letters_due clear of its tombstones.
import type { DeadLetterInput, DeadLetterReason, DeadLetterRecord, DeadLetterStatus } from "../../domain/model.ts";
import { DEAD_LETTER_STATUSES } from "../../domain/model.ts";
import { chunk } from "../../util/limit.ts";
import { describeIds } from "../describe.ts";
import type { DeadLetterPage, DeadLetterQuery, DeadLetterUpdate } from "../types.ts";
import { roundsByKey, type Statement } from "./batches.ts";
import { decodeCursor, dayOf, dueKey, encodeCursor, isAfter, merged, type IndexRow } from "./dead-letter-rules.ts";
import { deadLetterValues, lastWrite, toDeadLetter, type Row } from "./rows.ts";
import type { Session } from "./session.ts";
import type { Cql } from "./statements.ts";

/**
 * How far below the oldest live due entry the next scan of dead_letters_due starts: room for writers whose
 * clocks run behind this process's, or whose writes land late.
 */
const DUE_FLOOR_MARGIN_MS = 10 * 60_000;
/** Dead-letter records read per `IN` query (a record may hold a whole 256 KiB message; frames stop at 16 MiB). */
const DEAD_LETTERS_PER_READ = 20;
/** Records per unlogged batch of dead-letter rows, and per logged batch of their index rows (a few partitions). */
const DEAD_LETTERS_PER_BATCH = 4;
const INDEX_ENTRIES_PER_BATCH = 10;
/** The single partition of dead_letter_days. */
const DAYS_BUCKET = "all";

type Stored = { record: DeadLetterRecord; stamp: unknown };

export class DeadLetters {
  /**
   * Per reason, a next_retry_at below which dead_letters_due holds, as far as this store knows, only deleted
   * entries. Every reconciled or rescheduled dead letter leaves a tombstone in its reason's partition; a scan
   * from the partition's start reads them all, and past 100,000 (tombstone_failure_threshold) Cassandra refuses
   * the read. Scans start at the floor instead. It is unknown (a full scan) until the first scan, and lowered
   * by every due entry written through this store, also while a scan runs (dueWrittenLow).
   */
  private readonly dueFloor = new Map<string, string>();
  private readonly dueWrittenLow = new Map<string, string>();

  constructor(
    private readonly session: Session,
    private readonly cql: Cql,
  ) {}

  async put(records: DeadLetterInput[], nextRetryAt: string | null): Promise<void> {
    for (const round of roundsByKey(records, (r) => [r.id])) {
      const stored = await this.read(round.map((r) => r.id));
      await this.write(round.map((input) => {
        const previous = stored.get(input.id)?.record ?? null;
        return { record: merged(input, previous, nextRetryAt), previous };
      }));
    }
  }

  /** Stored records (with the write time of their index columns) by id; absent ids are missing from the map. */
  private async read(ids: string[]): Promise<Map<string, Stored>> {
    const unique = [...new Set(ids)];
    const chunks = chunk(unique, DEAD_LETTERS_PER_READ);
    const pages = await Promise.all(
      chunks.map((chunk) => {
        const what = `read of ${describeIds("dead letter", chunk)}`;
        return this.session.read(what, this.cql.selectDeadLettersStamped, [chunk], { fetchSize: chunk.length + 1 });
      }),
    );
    const found = new Map<string, Stored>();
    for (const page of pages) {
      for (const row of page.rows) found.set(row.id, { record: toDeadLetter(row), stamp: lastWrite(row) });
    }
    return found;
  }

  /**
   * Writes records (unlogged batches of a few, a large one alone: its `original` may be a whole oversize message and
   * Cassandra refuses batches above batch_size_fail_threshold, 50 KiB by default), then their index rows in logged
   * batches (all or nothing across the index tables; they share a few partitions: the day, the days bucket, the due
   * reason). Records first, so an index entry never points to a record that was not written; a failure in between
   * rejects, and the caller's retry writes both (or due() repairs a stale entry). Ids must be distinct.
   */
  private async write(writes: { record: DeadLetterRecord; previous: DeadLetterRecord | null }[]): Promise<void> {
    if (writes.length === 0) return;
    const first = writes[0]!.record.id;
    const more = writes.length - 1;
    const what = `write of ${more === 0 ? `dead letter ${first}` : `dead letters ${first} and ${more} more`}`;
    const records = writes.map(({ record: r }) => [{ query: this.cql.insertDeadLetter, params: deadLetterValues(r) }]);
    await this.session.writeAll(what, records, DEAD_LETTERS_PER_BATCH, false);
    const index = writes.map(({ record: r, previous }) => {
      const day = dayOf(r.first_seen, r.id);
      const statements: Statement[] = [
        {
          query: this.cql.insertDeadLetterByDay,
          params: [day, r.first_seen, r.id, r.reason, r.status, r.next_retry_at],
        },
        { query: this.cql.insertDeadLetterDay, params: [DAYS_BUCKET, day] },
      ];
      const [was, now] = [previous ? dueKey(previous) : null, dueKey(r)];
      // a delete and an insert of the same key in one batch share a timestamp, and the delete would win
      if (previous && was && was !== now) {
        statements.push({ query: this.cql.deleteDue, params: [previous.reason, previous.next_retry_at, r.id] });
      }
      if (now) {
        this.lowerDueFloor(r.reason, r.next_retry_at!);
        statements.push({ query: this.cql.insertDue, params: [r.reason, r.next_retry_at, r.id] });
      }
      return statements;
    });
    await this.session.writeAll(what, index, INDEX_ENTRIES_PER_BATCH, true);
  }

  /**
   * Pages are cut from the index rows of every day bucket, newest first; `total` needs them all, so a
   * listing reads the small index rows of every record once and the full records of one page only.
   */
  async list(query: DeadLetterQuery): Promise<DeadLetterPage> {
    const matching = (await this.indexRows()).filter(
      (k) => (!query.status || k.status === query.status) && (!query.reason || k.reason === query.reason),
    );
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    const start = cursor ? matching.findIndex((k) => isAfter(k, cursor)) : 0;
    const page = start < 0 ? [] : matching.slice(start, start + query.limit);
    const items = (await Promise.all(page.map((k) => this.get(k.id)))).filter((r) => r !== null);
    const last = page.at(-1);
    const more = start >= 0 && start + query.limit < matching.length;
    return { items, total: matching.length, next: more && last ? encodeCursor(last) : null };
  }

  /** Index rows of all dead letters in listing order (day DESC, then the table's first_seen DESC, id DESC). */
  private async indexRows(): Promise<IndexRow[]> {
    const days = await this.session.readAll("list of dead-letter days", this.cql.selectDays, [DAYS_BUCKET]);
    const perDay = await Promise.all(
      days.map((d) => this.session.readAll(`list of dead letters of ${d.day}`, this.cql.selectDayKeys, [d.day])),
    );
    return perDay
      .flat()
      .map((r) => ({ day: r.day, first_seen: r.first_seen, id: r.id, reason: r.reason, status: r.status }));
  }

  async get(id: string): Promise<DeadLetterRecord | null> {
    const row = (await this.session.read(`read of dead letter ${id}`, this.cql.selectDeadLetter, [id])).first();
    return row ? toDeadLetter(row) : null;
  }

  async update(updates: DeadLetterUpdate[]): Promise<void> {
    for (const round of roundsByKey(updates, (u) => [u.id])) {
      const stored = await this.read(round.map((u) => u.id));
      const now = new Date().toISOString();
      await this.write(round.flatMap((u) => {
        const previous = stored.get(u.id)?.record;
        if (!previous) return [];
        const record: DeadLetterRecord = {
          ...previous,
          status: u.status ?? previous.status,
          attempts: u.attempts ?? previous.attempts,
          next_retry_at: u.next_retry_at === undefined ? previous.next_retry_at : u.next_retry_at,
          last_seen: u.last_seen ?? previous.last_seen,
          updated_at: now,
        };
        return [{ record, previous }];
      }));
    }
  }

  /**
   * Reads dead_letters_due (oldest next_retry_at first) and confirms each entry against its record: an
   * entry the record disagrees with is skipped, deleted, and its dead_letters_by_day row repaired.
   */
  async due(reason: DeadLetterReason, now: string, limit: number): Promise<DeadLetterRecord[]> {
    const what = `due dead letters of ${reason}`;
    const due: DeadLetterRecord[] = [];
    if (limit < 1) return due;
    const floor = this.dueFloor.get(reason);
    this.dueWrittenLow.delete(reason);
    const [query, params] = floor === undefined
      ? [this.cql.selectDue, [reason, now]]
      : [this.cql.selectDueFrom, [reason, floor, now]];
    let oldestLive: string | null = null;
    for await (const rows of this.session.pages(what, query, params, limit)) {
      const records = await this.read(rows.map((r) => r.id));
      for (const row of rows) {
        const stored = records.get(row.id);
        const r = stored?.record ?? null;
        const current = r && r.status === "pending" && r.reason === reason && r.next_retry_at === row.next_retry_at;
        if (!current) await this.dropStaleDue(what, reason, row, r, stored?.stamp ?? null);
        else {
          oldestLive ??= row.next_retry_at as string;
          if (due.length < limit) due.push(r);
        }
      }
      if (due.length >= limit) break;
    }
    // Below the oldest live entry seen (or `now`, when every entry up to it is gone) only tombstones are left.
    const next = Date.parse(oldestLive ?? now);
    if (Number.isFinite(next)) {
      let candidate = new Date(next - DUE_FLOOR_MARGIN_MS).toISOString();
      const written = this.dueWrittenLow.get(reason);
      if (written !== undefined && written < candidate) candidate = written;
      this.dueFloor.set(reason, candidate);
    }
    return due;
  }

  /** A due entry at `at` is (about to be) written: scans must not start above it. */
  private lowerDueFloor(reason: string, at: string): void {
    const floor = this.dueFloor.get(reason);
    if (floor !== undefined && at < floor) this.dueFloor.set(reason, at);
    const low = this.dueWrittenLow.get(reason);
    if (low === undefined || at < low) this.dueWrittenLow.set(reason, at);
  }

  /**
   * A due entry outlives its record's state when the record was written but its index batch was not (the
   * server went away, or the process died, in between; the batch is atomic, so dead_letters_by_day is stale
   * too, and a rescheduled record has no entry for its new time), or when two writers raced. Deletes the entry
   * and rewrites the record's by_day row and due entry from the record, at the record's own write time, so that
   * an index write newer than the record read here is never undone.
   */
  private async dropStaleDue(
    what: string, reason: string, row: Row, r: DeadLetterRecord | null, stamp: unknown,
  ): Promise<void> {
    const index: Statement[] = [{ query: this.cql.deleteDue, params: [reason, row.next_retry_at, row.id] }];
    if (r && stamp !== null) {
      const byDay = [dayOf(r.first_seen, r.id), r.first_seen, r.id, r.reason, r.status, r.next_retry_at, stamp];
      index.push({ query: this.cql.insertDeadLetterByDayAt, params: byDay });
      // never the key deleted above: that one disagrees with the record
      if (dueKey(r)) {
        this.lowerDueFloor(r.reason, r.next_retry_at!);
        index.push({ query: this.cql.insertDueAt, params: [r.reason, r.next_retry_at, r.id, stamp] });
      }
    }
    // always a logged batch, also of one statement
    const options = { prepare: true, logged: true, isIdempotent: true, executionProfile: "write" };
    await this.session.run(what, () => this.session.client.batch(index, options));
  }

  async counts(): Promise<Record<DeadLetterStatus, number>> {
    const counts = Object.fromEntries(DEAD_LETTER_STATUSES.map((s) => [s, 0])) as Record<DeadLetterStatus, number>;
    for (const k of await this.indexRows()) {
      if (k.status in counts) counts[k.status as DeadLetterStatus]++;
    }
    return counts;
  }
}
