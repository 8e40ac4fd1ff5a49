// The live part of the console: GET /events snapshots into the header, the counters table and the throughput chart.
import { COLORS, TimeChart } from "./chart.ts";
import { byId, el, fmtInt, fmtMs, fmtRate, fmtUptime, setText } from "./dom.ts";

export interface Snapshot {
  t: number;
  version: string;
  roles: string[];
  transport: string;
  store: string;
  uptime_s: number;
  counters: Record<string, Record<string, number | null>>;
  outbox: { pending: number; sent: number };
  rates: Record<string, number | null>;
  latency_ms: { p50: number | null; p99: number | null; count: number };
  ready: { ready: boolean; transport: string; store: string; checked_at: string } | null;
}

interface History {
  t: number[];
  rates: Record<string, (number | null)[]>;
}

const BASE = ["received", "processed", "duplicates", "invalid", "dead_lettered", "failed"];

function readiness(id: string, state: string | undefined): void {
  const badge = byId(id);
  const ok = state === "ok";
  badge.textContent = state === undefined ? "checking" : ok ? "ready" : "unavailable";
  badge.title = state ?? "";
  badge.className = `badge ${state === undefined ? "" : ok ? "ok" : "bad"}`;
}

function renderCounters(s: Snapshot): void {
  const body = byId<HTMLTableElement>("counters").tBodies[0]!;
  const rows = s.roles.map((role) => {
    const c = s.counters[role] ?? {};
    const other = Object.entries(c).filter(([k]) => !BASE.includes(k)).map(([k, v]) => `${k.replace(/_/g, " ")} ${fmtInt(v)}`).join(", ");
    return el("tr", { "data-role": role },
      el("th", { scope: "row" }, role),
      el("td", { "data-counter": "rate" }, fmtRate(s.rates[role])),
      ...BASE.map((k) => el("td", { "data-counter": k, class: k === "failed" && (c[k] ?? 0) > 0 ? "bad" : undefined }, fmtInt(c[k]))),
      el("td", { class: "other" }, other || "—"),
    );
  });
  body.replaceChildren(...rows);
}

export function startLive(onSnapshot: (s: Snapshot) => void): void {
  let chart: TimeChart | null = null;
  let roles: string[] = [];
  let history: History | null = null;

  const ensureChart = (s: Snapshot) => {
    if (chart && roles.join() === s.roles.join()) return;
    roles = s.roles;
    byId("chart").replaceChildren();
    chart = new TimeChart(byId("chart"), roles.map((r, i) => ({ label: r, color: COLORS[i % COLORS.length]! })), { height: 240, keepSeconds: 15 * 60, unit: "msg/s" });
    if (history) chart.set(history.t, roles.map((r) => history!.rates[r] ?? history!.t.map(() => null)));
  };

  const source = new EventSource("/events?history=1");
  source.addEventListener("history", (event) => {
    history = JSON.parse((event as MessageEvent<string>).data) as History;
    chart = null;
  });
  source.onopen = () => {
    const link = byId("link");
    link.textContent = "live";
    link.className = "badge ok";
  };
  source.onerror = () => {
    const link = byId("link");
    link.textContent = "reconnecting";
    link.className = "badge bad";
  };
  source.onmessage = (event: MessageEvent<string>) => {
    const s = JSON.parse(event.data) as Snapshot;
    ensureChart(s);
    chart!.append(s.t / 1000, roles.map((r) => s.rates[r] ?? null));
    history = null;
    setText("version", s.version);
    setText("roles", s.roles.join(", "));
    setText("transport", s.transport);
    setText("store", s.store);
    setText("uptime", fmtUptime(s.uptime_s));
    readiness("transport-ready", s.ready?.transport);
    readiness("store-ready", s.ready?.store);
    setText("outbox-pending", fmtInt(s.outbox.pending));
    setText("outbox-sent", fmtInt(s.outbox.sent));
    setText("p50", fmtMs(s.latency_ms.p50));
    setText("p99", fmtMs(s.latency_ms.p99));
    const pending = s.counters.dlq?.pending;
    setText("dlq-pending", s.roles.includes("dlq") ? fmtInt(pending) : "no dlq role here");
    renderCounters(s);
    onSnapshot(s);
  };
}
