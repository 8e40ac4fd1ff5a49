// Whether the data dir's writes go through: since when and why they fail (disk full, read-only); /readyz, /status.

/** When the data dir's writes started failing (disk full, read-only, I/O errors), and why; null while they succeed. */
export interface WriteFailure {
  since: string;
  reason: string;
}

let failure: WriteFailure | null = null;
/** Writes of the pipeline (not the probe) that the data dir refused: each one held and tried again, or failed. */
export const refusedWrites = { count: 0 };

const STORAGE_CODES = /^(SQLITE_(FULL|READONLY|IOERR|CANTOPEN)|ENOSPC|EROFS|EDQUOT|EIO|EACCES|EPERM)/;
const STORAGE_MESSAGES = /database or disk is full|readonly database|disk I\/O error|no space left|read-only file sys/i;

/** SQLite (or file system) errors that say the data dir cannot take writes, as opposed to a lock or a bug. */
export function isStorageFailure(error: unknown): boolean {
  const code = String((error as { code?: unknown } | null)?.code ?? "");
  if (STORAGE_CODES.test(code)) return true;
  return STORAGE_MESSAGES.test(String((error as Error | null)?.message ?? ""));
}

/** Records a write of the data dir failing (the first failure's time is kept until a write succeeds). */
export function noteWriteFailure(error: unknown): void {
  failure ??= { since: new Date().toISOString(), reason: (error as Error).message ?? String(error) };
}

/**
 * The write probe (probe.ts) wrote a new file and a database row: the data dir takes writes again. Only the probe
 * clears a failure: on a full disk SQLite still writes into WAL pages it already has, so one write going through
 * says nothing of the next.
 */
export function noteWriteSuccess(): void {
  failure = null;
}

/** Null while the data dir takes writes; otherwise since when and why its writes fail (counters shown are stale). */
export function writeFailure(): WriteFailure | null {
  return failure;
}
