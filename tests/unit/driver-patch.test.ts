// The guard around cassandra-driver's ControlConnection refresh (src/store/driver-patch.ts), on a stand-in prototype
// whose refresh fails the way the driver's does when two refreshes overlap.
import { describe, expect, test } from "bun:test";
import ControlConnection from "cassandra-driver/lib/control-connection.js";
import "../../src/store/cassandra/index.ts"; // guards the driver's ControlConnection when loaded
import { guardControlConnectionRefresh } from "../../src/store/driver-patch.ts";
import { waitFor } from "../helpers/wait.ts";

/** A control connection whose refreshes run `steps` in turn (the driver's code stands behind the same method name). */
function standIn(steps: ((self: StandIn, hostIterator: unknown) => Promise<void>)[]) {
  class StandIn {
    _isShuttingDown = false;
    /** Reconnections scheduled (each takes the next delay of the schedule). */
    scheduled = 0;
    _reconnectionSchedule = ((self: StandIn) =>
      (function* () {
        for (;;) {
          self.scheduled++;
          yield 5;
        }
      })())(this);
    connection: { endpoint: string } | null = { endpoint: "127.0.0.1:9042" };
    logged: string[] = [];
    calls: unknown[] = [];
    log(level: string, message: string, error?: unknown) {
      this.logged.push(`${level}: ${message}${error instanceof Error ? `: ${error.message}` : ""}`);
    }
    async _refresh(hostIterator?: unknown): Promise<void> {
      this.calls.push(hostIterator);
      const step = steps.shift();
      if (step) await step(this, hostIterator);
    }
  }
  guardControlConnectionRefresh(StandIn.prototype);
  return new StandIn();
}
type StandIn = ReturnType<typeof standIn>;

/** What the driver's refresh does when another refresh reset the connection before its metadata read failed. */
const racedFailure = async (self: StandIn) => {
  self.connection = null;
  throw new TypeError(`null is not an object (evaluating 'this.connection.endpoint')`);
};

describe("ControlConnection refresh guard", () => {
  test("a failing refresh resolves instead of rejecting, and the next one is scheduled when none other runs", async () => {
    const cc = standIn([racedFailure, async (self) => void (self.connection = { endpoint: "127.0.0.1:9042" })]);
    await cc._refresh(); // would reject (an unhandled rejection from the driver's setTimeout) without the guard
    expect(cc.logged).toEqual([
      "warning: ControlConnection refresh failed (caught by ecom's guard): null is not an object (evaluating 'this.connection.endpoint')",
    ]);
    expect(cc.scheduled).toBe(1);
    await waitFor("the scheduled refresh", () => cc.calls.length === 2, { timeoutMs: 2000, intervalMs: 5 });
    expect(cc.connection).toEqual({ endpoint: "127.0.0.1:9042" });
  });

  test("when another refresh is running, the failed one leaves the reconnection to it", async () => {
    let release!: () => void;
    const running = new Promise<void>((resolve) => (release = resolve));
    const cc = standIn([async () => running, racedFailure]);
    const first = cc._refresh();
    await cc._refresh(); // fails while the first still runs
    release();
    await first;
    expect(cc.scheduled).toBe(0);
    expect(cc.calls).toEqual([undefined, undefined]);
    expect(cc.logged.length).toBe(1);
  });

  test("the driver's retry with its query plan is part of the refresh that started it; a shut-down client gets no retry", async () => {
    const plan = { next: () => ({ done: true }) };
    const cc = standIn([async (self) => self._refresh(plan), racedFailure]);
    cc._isShuttingDown = true;
    await cc._refresh();
    expect(cc.calls).toEqual([undefined, plan]);
    expect(cc.logged.length).toBe(1);
    expect(cc.scheduled).toBe(0);
  });

  test("loading the Cassandra store guards the driver's ControlConnection, once", () => {
    const guarded = ControlConnection.prototype._refresh;
    expect(guarded.name).toBe("guardedRefresh");
    guardControlConnectionRefresh();
    expect(ControlConnection.prototype._refresh).toBe(guarded);
  });
});
