// The named SQLite lease: one holder at a time per data dir, taken over once it runs out, handed over on release.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { openDb } from "../../src/db/open.ts";
import { Lease } from "../../src/db/lease.ts";

test("two processes' leases of one name on one data dir: one holder, expiry, renewal and release", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ecom-lease-"));
  const [h1, h2] = [await openDb(dir), await openDb(dir)];
  let now = 1_000_000;
  const clock = () => now;
  const a = new Lease(h1, "reconciler", clock);
  const b = new Lease(h2, "reconciler", clock);
  const other = new Lease(h2, "something-else", clock);
  try {
    expect(a.hold(10_000)).toBe(true);
    expect(b.hold(10_000)).toBe(false);
    expect(other.hold(10_000)).toBe(true);
    now += 6_000; // past half: a renews, so b still waits after the first term would have ended
    expect(a.hold(10_000)).toBe(true);
    now += 6_000;
    expect(b.hold(10_000)).toBe(false);
    expect(a.held()).toBe(true);
    now += 10_001; // a stopped renewing (died): its lease ran out
    expect(a.held()).toBe(false);
    expect(b.hold(10_000)).toBe(true);
    expect(a.hold(10_000)).toBe(false);
    b.release();
    expect(a.hold(10_000)).toBe(true);
  } finally {
    h1.close();
    h2.close();
  }
});
