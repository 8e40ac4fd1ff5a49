// A guard around one cassandra-driver 4.10.0 bug that can end the process while Cassandra is away.
//
// Two ControlConnection refreshes can run at once: a reconnection the driver scheduled with setTimeout after a failed
// attempt, and one started by a health listener when its connection closes. Each first resets `this.connection` to
// null; when the metadata read of one fails after the other has done so, its error handler reads
// `this.connection.endpoint` and throws a TypeError. The refresh started from setTimeout has no catch, so that becomes
// an unhandled rejection, which ends a Bun (or Node) process. Seen in CI right after a Cassandra outage test; upstream:
// NODEJS-681 (apache/cassandra-nodejs-driver#462, open when this was written).
//
// The guard: a refresh (started by the driver with no query plan; its retries with one are part of it) never rejects.
// Its failure is logged; if no other refresh of that control connection is running
// (none to take over), the next one is scheduled on the driver's own reconnection schedule, as the driver does when it
// cannot connect at all.
import ControlConnection from "cassandra-driver/lib/control-connection.js";

interface Refreshing {
  _isShuttingDown: boolean;
  _reconnectionSchedule: Iterator<number>;
  _refresh(hostIterator?: unknown): Promise<void>;
  log(level: string, message: string, error?: unknown): void;
}

const RUNNING = Symbol("ecom.refreshesRunning");
const PATCHED = Symbol.for("ecom.controlConnectionRefreshGuard");

type Guarded = Refreshing & { [RUNNING]?: number };

export function guardControlConnectionRefresh(proto: { _refresh: Refreshing["_refresh"] } = ControlConnection.prototype): void {
  const target = proto as typeof proto & { [PATCHED]?: true };
  if (target[PATCHED]) return;
  const original = proto._refresh;
  target[PATCHED] = true;
  proto._refresh = async function guardedRefresh(this: Guarded, hostIterator?: unknown): Promise<void> {
    // The driver's own retry with the same query plan: its failure reaches the refresh that started it.
    if (hostIterator !== undefined) return original.call(this, hostIterator);
    this[RUNNING] = (this[RUNNING] ?? 0) + 1;
    try {
      await original.call(this, hostIterator);
    } catch (error) {
      this.log("warning", "ControlConnection refresh failed (caught by ecom's guard)", error);
      if (this[RUNNING] === 1 && !this._isShuttingDown) {
        const delay = this._reconnectionSchedule.next().value;
        setTimeout(() => void this._refresh(), delay);
      }
    } finally {
      this[RUNNING] = this[RUNNING]! - 1;
    }
  };
}
