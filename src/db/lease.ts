// A named lease in the data dir's SQLite: at most one live process at a time does the leased work.
import { randomUUID } from "node:crypto";
import type { DbHandle } from "./open.ts";

// Created on first use, not by a numbered migration: the table is independent of every other one.
const CREATE = "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID";
// Plain `?` parameters: better-sqlite3 treats numbered ones as named.
const TAKE = `INSERT INTO leases (name, owner, until) VALUES (?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
  WHERE leases.owner = excluded.owner OR leases.until < ?`;
const RELEASE = "DELETE FROM leases WHERE name = ? AND owner = ?";

/**
 * Guarantees: while `hold` keeps answering true to a process that calls it at least every `ms / 2`, no other process
 * holding a Lease of the same name on the same data dir gets true. A holder that dies is replaced once its `until`
 * has passed; `release` hands it over at once.
 */
export class Lease {
  readonly owner = randomUUID();
  private until = 0;
  private created = false;

  constructor(
    private readonly handle: DbHandle,
    readonly name: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes or renews the lease for `ms`; false while another live process holds it. */
  hold(ms: number): boolean {
    const now = this.now();
    if (this.until - now > ms / 2) return true;
    if (!this.created) {
      this.handle.exec(CREATE);
      this.created = true;
    }
    const res = this.handle.prepare(TAKE).run(this.name, this.owner, now + ms, now);
    this.until = res.changes > 0 ? now + ms : 0;
    return this.until > 0;
  }

  /** Whether this process held the lease at its last `hold` and it has not run out since. */
  held(): boolean {
    return this.until > this.now();
  }

  release(): void {
    if (this.until === 0) return;
    this.until = 0;
    this.handle.prepare(RELEASE).run(this.name, this.owner);
  }
}
