// The demo's terminal: a line of totals every few seconds instead of one JSON line per order.
import type { Snapshot } from "./console/live.ts";

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const rate = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const ms = (n: number | null) => (n === null ? "-" : n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);

/** One line: per role its count and rate (and what needs an eye: failed, invalid), dead letters, outbox, latency. */
export function totalsLine(s: Pick<Snapshot, "t" | "roles" | "counters" | "rates" | "outbox" | "latency_ms">, pendingDeadLetters: number | null): string {
  const parts = [new Date(s.t).toISOString().slice(11, 19)];
  for (const role of s.roles) {
    const c = s.counters[role] ?? {};
    const count = role === "producer" ? c.processed : c.received;
    let part = `${role} ${int.format(count ?? 0)}`;
    if (s.rates[role] != null) part += ` (${rate.format(s.rates[role]!)}/s)`;
    if (role === "payment" && c.matched != null) part += ` matched ${int.format(c.matched)}`;
    for (const bad of ["invalid", "failed"]) if ((c[bad] ?? 0) > 0) part += ` ${bad} ${int.format(c[bad]!)}`;
    parts.push(part);
  }
  if (pendingDeadLetters !== null) parts.push(`dead letters pending ${int.format(pendingDeadLetters)}`);
  parts.push(`outbox ${int.format(s.outbox.pending)}`, `p50 ${ms(s.latency_ms.p50)} p99 ${ms(s.latency_ms.p99)}`);
  return parts.join("  ");
}

export interface TotalsOptions {
  everyMs: number;
  /** The console sampler's newest snapshot (rates, counters, latency). */
  snapshot: () => Snapshot | null;
  pendingDeadLetters: () => Promise<number | null>;
  write: (line: string) => void;
  /** While true (a progress bar is drawing), no line is written. */
  paused?: () => boolean;
}

export function startTotals(options: TotalsOptions): { stop(): void } {
  const timer = setInterval(async () => {
    const s = options.snapshot();
    if (!s || options.paused?.()) return;
    const pending = await options.pendingDeadLetters().catch(() => null);
    options.write(totalsLine(s, pending));
  }, options.everyMs);
  timer.unref?.();
  return { stop: () => clearInterval(timer) };
}
