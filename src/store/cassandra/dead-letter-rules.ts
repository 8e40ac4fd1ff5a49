// What a dead-letter write leaves (the merge of a repeat), its day partition, due key and the listing's cursor.
import type { DeadLetterInput, DeadLetterRecord } from "../../domain/model.ts";
import { StoreError } from "../types.ts";

/** UTC day (YYYY-MM-DD) of an ISO-8601 time: the dead_letters_by_day partition of a record. */
export function dayOf(iso: string, id: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) {
    throw new StoreError(`dead letter ${id} has first_seen "${iso}", which is not an ISO-8601 time`, false);
  }
  return new Date(t).toISOString().slice(0, 10);
}

/**
 * The record a put of `input` leaves: a new pending one (attempts 1), or the stored one with attempts + 1, last seen,
 * reason, details and original refreshed, and pending again.
 */
export function merged(
  input: DeadLetterInput, previous: DeadLetterRecord | null, nextRetryAt: string | null,
): DeadLetterRecord {
  const retryAt = input.reason === "unmatched_order" ? nextRetryAt : null;
  const now = new Date().toISOString();
  if (previous) {
    return {
      ...previous,
      reason: input.reason,
      details: input.details,
      original: input.original,
      attempts: previous.attempts + 1,
      last_seen: input.seen_at > previous.last_seen ? input.seen_at : previous.last_seen,
      status: "pending",
      // keep a schedule already running; a record that had none gets one if it is now retryable
      next_retry_at: previous.next_retry_at ?? retryAt,
      updated_at: now,
    };
  }
  return {
    id: input.id,
    reason: input.reason,
    details: input.details,
    original: input.original,
    topic: input.topic,
    subscription: input.subscription,
    message_id: input.message_id,
    type: input.type,
    business_key: input.business_key,
    attempts: 1,
    first_seen: input.seen_at,
    last_seen: input.seen_at,
    status: "pending",
    next_retry_at: retryAt,
    updated_at: now,
  };
}

/** Whether a record belongs in dead_letters_due (what the dlq role polls for retries), and under which key. */
export const dueKey = (r: DeadLetterRecord) =>
  r.status === "pending" && r.next_retry_at !== null ? `${r.reason}\u0000${r.next_retry_at}` : null;

/** Position in the listing order (day DESC, first_seen DESC, id DESC); a cursor is one of these. */
export interface ListKey {
  day: string;
  first_seen: string;
  id: string;
}
export interface IndexRow extends ListKey {
  reason: string;
  status: string;
}

/** True when `k` comes after `c` in the listing order. */
export function isAfter(k: ListKey, c: ListKey): boolean {
  if (k.day !== c.day) return k.day < c.day;
  if (k.first_seen !== c.first_seen) return k.first_seen < c.first_seen;
  return k.id < c.id;
}

export const encodeCursor = (k: ListKey) =>
  Buffer.from(JSON.stringify([k.day, k.first_seen, k.id])).toString("base64url");

export function decodeCursor(cursor: string): ListKey {
  try {
    const [day, first_seen, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if ([day, first_seen, id].every((v) => typeof v === "string")) return { day, first_seen, id };
  } catch {
    // fall through to the error below
  }
  const shown = JSON.stringify(cursor.slice(0, 40));
  throw new StoreError(`cursor ${shown} was not issued by this store: pass the \`next\` of a previous page`, false);
}
