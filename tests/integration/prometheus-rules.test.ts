// The fleet files: config/prometheus/alerts.yml checked and unit-tested by promtool, and every metric the alerts and
// config/grafana/ecom-dashboard.json query is one the compiled binary's /metrics really exposes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { waitFor } from "../helpers/wait.ts";

const PROM = join(ROOT, "config", "prometheus");
const ALERTS = ["EcomDeadLettersPendingGrowing", "EcomMessagesFailed", "EcomOutboxPendingGrowing", "EcomProduceToStoreP99High", "EcomInstanceDown"];

/** promtool on PATH, or the one scripts/test unpacks from Debian's prometheus package. */
function promtool(): string {
  const unpacked = join(ROOT, ".services", "tools", "usr", "bin", "promtool");
  const found = Bun.which("promtool") ?? (existsSync(unpacked) ? unpacked : null);
  if (!found) throw new Error("promtool is missing: scripts/test unpacks it from Debian's prometheus package (or apt-get install prometheus)");
  return found;
}

function run(args: string[], cwd = PROM) {
  const result = Bun.spawnSync([promtool(), ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, out: result.stdout.toString() + result.stderr.toString() };
}

const dashboard = JSON.parse(readFileSync(join(ROOT, "config", "grafana", "ecom-dashboard.json"), "utf8"));
const dashboardExprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));
/** The job and instance pickers' label_values() queries. */
const variableQueries: string[] = dashboard.templating.list.filter((v: { type: string }) => v.type === "query").map((v: { definition: string }) => v.definition);

describe("alert rules", () => {
  test("promtool check rules: the five alerts, valid", () => {
    const { code, out } = run(["check", "rules", "alerts.yml"]);
    expect(out).toContain("SUCCESS: 5 rules found");
    expect(code).toBe(0);
    const names = [...readFileSync(join(PROM, "alerts.yml"), "utf8").matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(names).toEqual(ALERTS);
  });

  test("promtool test rules: each alert fires on its sample series (and not on the healthy ones)", () => {
    const { code, out } = run(["test", "rules", "alerts.test.yml"]);
    expect(out.trim().split("\n").at(-1)!.trim()).toBe("SUCCESS");
    expect(code).toBe(0);
    // Every alert has a case where it fires: an exp_alerts list with an entry under its name.
    const cases = readFileSync(join(PROM, "alerts.test.yml"), "utf8").split(/\n(?=\s+- eval_time:)/);
    for (const alert of ALERTS) expect(cases.some((c) => c.includes(`alertname: ${alert}`) && /exp_alerts:\n\s+- exp_labels/.test(c))).toBe(true);
  });

  test("a rule that cannot fire is caught: promtool test rules fails when an expected alert does not come", () => {
    const dir = tempDir("ecom-promtool-");
    writeFileSync(join(dir, "alerts.yml"), readFileSync(join(PROM, "alerts.yml"), "utf8").replace("up{job=\"ecom\"} == 0", "up{job=\"ecom\"} == 2"));
    writeFileSync(join(dir, "alerts.test.yml"), readFileSync(join(PROM, "alerts.test.yml"), "utf8"));
    const { code, out } = run(["test", "rules", "alerts.test.yml"], dir);
    expect(code).toBe(1);
    expect(out).toContain("alertname: EcomInstanceDown");
  });

  test("the dashboard's queries are valid PromQL (checked as rules by promtool)", () => {
    expect(dashboardExprs.length).toBe(13);
    const dir = tempDir("ecom-promtool-");
    const rules = dashboardExprs.map((e, i) => `      - record: ecom:dashboard_query_${i}\n        expr: ${JSON.stringify(e.replaceAll("$__rate_interval", "5m").replaceAll("$job", ".*").replaceAll("$instance", ".*"))}`);
    writeFileSync(join(dir, "dashboard-rules.yml"), `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
    const { code, out } = run(["check", "rules", "dashboard-rules.yml"], dir);
    expect(out).toContain(`SUCCESS: ${dashboardExprs.length} rules found`);
    expect(code).toBe(0);
  });
});

describe("metric names against the binary's /metrics", () => {
  let app: Running;
  let families: Map<string, string>;
  let text: string;

  beforeAll(async () => {
    app = await startEcom(["--role=all", "--orders=20", "--payments=20", "--rate=0", `--data-dir=${tempDir()}`]);
    await waitFor("payments stored", async () => (await app.get("/status")).counters.payment.processed >= 19, { timeoutMs: 30_000 });
    text = await (await app.request("/metrics")).text();
    families = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  }, 60_000);

  afterAll(async () => {
    if (app) {
      expect(await app.stop()).toBe(0);
      app.proc.kill("SIGKILL");
    }
  });

  test("every ecom_* metric the alerts and the dashboard query is exposed, with the labels they filter on", () => {
    const queried = new Set<string>();
    for (const source of [readFileSync(join(PROM, "alerts.yml"), "utf8"), ...dashboardExprs, ...variableQueries]) {
      for (const m of source.matchAll(/\b(ecom_[a-z_]+)/g)) queried.add(m[1]!);
    }
    const exposed = (name: string) => families.has(name) || (/_(bucket|sum|count)$/.test(name) && families.get(name.replace(/_(bucket|sum|count)$/, "")) === "histogram");
    expect([...queried].filter((n) => !exposed(n))).toEqual([]);
    expect([...queried].sort()).toEqual(["ecom_counter_total", "ecom_dead_letters", "ecom_messages_total", "ecom_outbox_pending", "ecom_produce_to_store_seconds_bucket", "ecom_up"]);
    // The counter names the queries filter on, each exposed for every role that has it.
    for (const counter of ["received", "processed", "duplicates", "invalid", "dead_lettered", "failed"]) {
      for (const role of ["producer", "order", "payment", "analytics", "dlq"]) expect(text).toContain(`ecom_counter_total{role="${role}",counter="${counter}"} `);
    }
    expect(text).toMatch(/^ecom_counter_total\{role="order",counter="processed"\} 20$/m);
    expect(text).toMatch(/^ecom_counter_total\{role="producer",counter="processed"\} 40$/m);
    expect(text).toContain('ecom_dead_letters{status="pending"} ');
    expect(text).toContain('ecom_produce_to_store_seconds_bucket{le="1",role="order"} ');
  });
});
