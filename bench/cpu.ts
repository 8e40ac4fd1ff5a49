// CPU time spent by this process and by a local server process (Cassandra, a broker emulator) over a stretch of a
// bench, read from process.cpuUsage() and /proc/<pid>/stat: how the machine's cores were shared, not just the rate.
import { readFileSync, readdirSync } from "node:fs";

/** The pid of the first process whose command line contains `pattern` (Linux /proc), or null. */
export function findServerPid(pattern: string): number | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(pattern)) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return null;
}

/** User + system CPU seconds of `pid` so far, or null if it cannot be read. */
function processCpuSeconds(pid: number): number | null {
  try {
    // Fields after the command name: state is field 3; utime and stime are fields 14 and 15, in clock ticks (100/s).
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

export interface CpuSpent {
  /** CPU seconds of this process (the pipeline or the bare client). */
  self: number;
  /** CPU seconds of the server process, null when it was not found. */
  server: number | null;
  /** Wall seconds. */
  wall: number;
}

/** Starts a meter; calling the result returns what was spent since. */
export function cpuMeter(serverPid: number | null): () => CpuSpent {
  const self0 = process.cpuUsage();
  const server0 = serverPid === null ? null : processCpuSeconds(serverPid);
  const t0 = performance.now();
  return () => {
    const self = process.cpuUsage(self0);
    const server1 = serverPid === null ? null : processCpuSeconds(serverPid);
    return { self: (self.user + self.system) / 1e6, server: server0 === null || server1 === null ? null : server1 - server0, wall: (performance.now() - t0) / 1000 };
  };
}

/**
 * Waits until the server of `pid` idles (below `maxCores` over a `windowMs` sample), for at most `timeoutMs`: a server
 * still digesting the previous run (the emulator collecting a deleted backlog, Cassandra flushing and compacting a
 * dropped keyspace) would otherwise take cores from the next measurement. A precaution: in the runs that printed it so
 * far the server was already idle at the first sample. Returns the seconds waited and whether it got quiet (null pid:
 * nothing to wait for).
 */
export async function waitForQuietServer(
  pid: number | null,
  { maxCores = 0.1, windowMs = 1000, timeoutMs = 60_000 } = {},
): Promise<{ waitedS: number; quiet: boolean } | null> {
  if (pid === null) return null;
  const t0 = performance.now();
  for (;;) {
    const before = processCpuSeconds(pid);
    await Bun.sleep(windowMs); // the sample window itself: CPU seconds over a stretch of wall time
    const after = processCpuSeconds(pid);
    const waitedS = (performance.now() - t0) / 1000;
    if (before === null || after === null) return { waitedS, quiet: false };
    if ((after - before) / (windowMs / 1000) < maxCores) return { waitedS, quiet: true };
    if (waitedS * 1000 >= timeoutMs) return { waitedS, quiet: false };
  }
}
