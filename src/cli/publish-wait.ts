// How `produce` waits for its outbox rows to reach the broker: relaying, reporting while it waits, giving up in time.

export interface WaitProgress {
  /** Rows of this run still in the outbox. */
  pending: number;
  total: number;
  elapsedMs: number;
  /** The newest publish error recorded on those rows (by any relay of the data dir), if any. */
  lastError: string | null;
  /** Another process holds the data dir's relay lease: it is the one publishing. */
  relayedElsewhere: boolean;
}

export interface WaitDeps {
  /** Rows of this run still in the outbox. */
  pending(): number;
  lastError(): string | null;
  relayedElsewhere(): boolean;
  /** One relay step; the signal aborts a publish in flight when the wait gives up. */
  drain(signal: AbortSignal): Promise<{ claimed: number; sent: number }>;
  report(progress: WaitProgress): void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface WaitOptions {
  total: number;
  /** 0 waits as long as it takes. */
  timeoutMs: number;
  /** How often a wait that has not finished says where it stands (the first time after one interval). */
  reportEveryMs: number;
  /** Pause after a step that published nothing (rows in back-off, another relay holding the lease). */
  idleMs?: number;
}

export interface WaitResult {
  published: boolean;
  /** The last publish error at the deadline, before the wait aborted its own publish (whose abort says nothing). */
  lastError: string | null;
}

/** Relays until every row of the run is confirmed or the timeout passes, reporting as it waits. */
export async function relayUntilPublished(deps: WaitDeps, options: WaitOptions): Promise<WaitResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const idleMs = options.idleMs ?? 200;
  const start = now();
  const deadline = options.timeoutMs > 0 ? start + options.timeoutMs : Infinity;
  let nextReport = start + options.reportEveryMs;
  const abort = new AbortController();
  let atDeadline: string | null | undefined;
  for (;;) {
    const pending = deps.pending();
    if (pending === 0) return { published: true, lastError: null };
    const t = now();
    if (t >= nextReport) {
      const elapsedMs = t - start;
      deps.report({ pending, total: options.total, elapsedMs, lastError: deps.lastError(), relayedElsewhere: deps.relayedElsewhere() });
      nextReport = t + options.reportEveryMs;
    }
    if (t >= deadline) return { published: false, lastError: atDeadline ?? deps.lastError() };
    // A publish that outlasts the deadline is cut off there rather than holding the command for its own timeouts.
    const timer = deadline === Infinity ? undefined : setTimeout(() => {
      atDeadline = deps.lastError();
      abort.abort();
    }, deadline - t);
    let step = { claimed: 0, sent: 0 };
    try {
      step = await deps.drain(abort.signal);
    } finally {
      clearTimeout(timer);
    }
    if (step.claimed === 0 || step.sent < step.claimed) {
      await sleep(Math.max(0, Math.min(idleMs, nextReport - now(), deadline - now())));
    }
  }
}

/** "1,234 of 6,200 messages" */
const count = (n: number, of: number) =>
  `${n.toLocaleString("en-US")} of ${of.toLocaleString("en-US")} message${of === 1 ? "" : "s"}`;

/** The line a TTY gets every few seconds while the run's rows wait. */
export function progressLine(progress: WaitProgress, broker: string): string {
  const who = progress.relayedElsewhere ? "; another ecom process on this data dir holds the relay and is publishing them" : "";
  const error = progress.lastError ? `; last error: ${progress.lastError}` : "";
  const waited = Math.round(progress.elapsedMs / 1000);
  return `produce: ${count(progress.pending, progress.total)} not yet published to ${broker} after ${waited} s${who}${error}`;
}

/** What `produce` says when --publish-timeout ends its wait. */
export function timeoutMessage(args: {
  pending: number; total: number; byKind: string; broker: string; dataDir: string; timeout: string; lastError: string | null;
}): string {
  const error = args.lastError ? ` (last error: ${args.lastError})` : "";
  return (
    `produce: gave up waiting after ${args.timeout} (--publish-timeout) with ${count(args.pending, args.total)} ` +
    `(${args.byKind}) still in the outbox of ${args.dataDir}, not yet published to ${args.broker}${error}. ` +
    `They are not lost: any ecom process on the same data dir (--data-dir=${args.dataDir}) relays them once the broker ` +
    `answers; running produce again would add the file a second time.`
  );
}
