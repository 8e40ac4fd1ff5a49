// Can the data dir be written? A real write, at most once a second, and the time writes started failing.
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isBusy } from "./busy.ts";
import { noteWriteFailure, noteWriteSuccess } from "./health.ts";
import type { DbHandle } from "./open.ts";

const PROBE_TABLE = "CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)";
const PROBE_WRITE = "INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at";
// A page's worth: a file system with less room than that cannot take the next SQLite page either.
const PROBE_BYTES = Buffer.alloc(4096, 0x2e);

/**
 * Checks the data dir with real writes (a 4 KiB file written, synced and removed, and a row of the database), at most
 * once per `everyMs`; in between it answers the last result. The file write runs on libuv's threads, off the event
 * loop; the row write takes the busy timeout at most (a lock held elsewhere is not a failure).
 */
export class WriteProbe {
  private last: { at: number; result: Promise<string | null> } | null = null;
  private created = false;

  constructor(
    private readonly handle: DbHandle,
    private readonly dataDir: string,
    private readonly everyMs = 1000,
  ) {}

  /** Null when the data dir takes writes, else the reason it does not. */
  check(): Promise<string | null> {
    const now = Date.now();
    if (this.last && now - this.last.at < this.everyMs) return this.last.result;
    const result = this.probe();
    this.last = { at: now, result };
    return result;
  }

  private async probe(): Promise<string | null> {
    const path = join(this.dataDir, `.ecom-write-probe-${process.pid}`);
    try {
      const file = await open(path, "w");
      try {
        await file.write(PROBE_BYTES);
        await file.sync();
      } finally {
        await file.close();
      }
    } catch (error) {
      await unlink(path).catch(() => {});
      noteWriteFailure(error);
      return `cannot write ${this.dataDir}: ${(error as Error).message}`;
    }
    await unlink(path).catch(() => {});
    try {
      if (!this.created) {
        this.handle.exec(PROBE_TABLE);
        this.created = true;
      }
      this.handle.prepare(PROBE_WRITE).run(Date.now());
    } catch (error) {
      if (isBusy(error)) return null;
      noteWriteFailure(error);
      return `cannot write ${this.handle.path}: ${(error as Error).message}`;
    }
    noteWriteSuccess();
    return null;
  }
}
