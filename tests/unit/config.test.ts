// Settings: precedence (flags > ECOM_* env > config file > defaults), errors, --help/--version, and the example file.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import { parseCli } from "../../src/config/cli.ts";
import { ConfigError, configKey, envName, loadConfig, resolveSettings } from "../../src/config/load.ts";
import { SETTINGS, type Setting } from "../../src/config/settings.ts";
import { ROOT, runEcom, tempDir } from "../helpers/ecom.ts";

const EXAMPLE = join(ROOT, "config", "ecom.example.toml");
const PKG_VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** Writes a TOML config file into a fresh temp dir and returns its path. */
function configFile(text: string): string {
  const path = join(tempDir("ecom-config-"), "ecom.toml");
  writeFileSync(path, text);
  return path;
}

/** The ConfigError message `fn` throws (fails the test when it does not throw one). */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

const load = (argv: string[], env: Record<string, string> = {}) => loadConfig({ flags: parseCli(argv).flags, env });

describe("precedence: flags > ECOM_* env > config file > defaults", () => {
  const file = configFile(`port = 9003\nlog_level = "error"\nrate = 3\n\n[cassandra]\nport = 9300\ncontact_points = ["f1", "f2"]\ntls = true\n\n[sqs]\nwait_time = 3\n`);

  test("defaults when nothing is given", () => {
    const c = load([]);
    expect(c.roles).toEqual(["producer", "order", "payment", "analytics", "dlq"]);
    expect(c.transport).toBe("local");
    expect(c.store).toBe("sqlite");
    expect(c.dataDir).toBe("./data");
    expect(c.host).toBe("127.0.0.1");
    expect(c.port).toBe(8080);
    expect(c.adminToken).toBeUndefined();
    expect(c.shutdownGraceMs).toBe(8000);
    expect(c.producer).toEqual({ seed: 1, rate: 5, orders: null, payments: null, unmatchedRatio: 0.05, duplicateRatio: 0.01, progress: true, publishTimeoutMs: 300_000 });
    expect(c.inboxRetentionMs).toBe(7 * 86_400_000);
    expect(c.dlqRetryBaseMs).toBe(500);
    expect(c.cassandra.contactPoints).toEqual(["127.0.0.1"]);
    expect(c.cassandra.port).toBe(9042);
    expect(c.aws.waitTimeSeconds).toBe(20);
    expect(c.aws.topics).toEqual({ orders: "orders_topic", payments: "payments_topic", deadletters: "dlq_payments_topic", alerts: "order_alerts" });
    expect(c.pubsub.subscriptions).toEqual({ order: "orders_data-sub", analytics: "orders_data-analytics-sub", payment: "payments_data-sub", dlq: "dlq_payments_data-sub" });
    expect(Object.isFrozen(c) && Object.isFrozen(c.cassandra) && Object.isFrozen(c.cassandra.contactPoints)).toBe(true);
  });

  test("dynamodb: region and endpoint fall back to --aws-region and --aws-endpoint; flags, env and config keys", () => {
    expect(load([]).dynamodb).toEqual({ region: "us-east-1", endpoint: undefined, tablePrefix: "", billingMode: "on-demand", readCapacity: 5, writeCapacity: 5, requestTimeoutMs: 10_000, concurrency: 32 });
    expect(load(["--aws-region=eu-west-1", "--aws-endpoint=http://127.0.0.1:5000"]).dynamodb).toMatchObject({ region: "eu-west-1", endpoint: "http://127.0.0.1:5000" });
    const own = load(["--aws-region=eu-west-1", "--dynamodb-region=ap-south-1", "--dynamodb-endpoint=http://d:1"], { ECOM_DYNAMODB_TABLE_PREFIX: "prod_", ECOM_DYNAMODB_CONCURRENCY: "8" });
    expect(own.dynamodb).toMatchObject({ region: "ap-south-1", endpoint: "http://d:1", tablePrefix: "prod_", concurrency: 8 });
    expect(own.aws.region).toBe("eu-west-1");
    const file = configFile(`store = "dynamodb"\nauto_migrate = true\n[dynamodb]\nbilling_mode = "provisioned"\nread_capacity = 20\nrequest_timeout = "3s"\n`);
    expect(load([`--config=${file}`])).toMatchObject({ store: "dynamodb", autoMigrate: true, dynamodb: { billingMode: "provisioned", readCapacity: 20, requestTimeoutMs: 3000 } });
    expect(configError(() => load(["--dynamodb-table-prefix=bad prefix"]))).toBe('--dynamodb-table-prefix: "bad prefix" is not valid; accepted: letters, digits, _ - and . (at most 200)');
    expect(configError(() => load([], { ECOM_DYNAMODB_WRITE_CAPACITY: "0" }))).toBe('ECOM_DYNAMODB_WRITE_CAPACITY: "0" is not valid; accepted: 1..1000000');
  });

  test("the config file beats defaults", () => {
    const c = load([`--config=${file}`]);
    expect([c.port, c.logLevel, c.producer.rate, c.cassandra.port, c.cassandra.contactPoints, c.cassandra.tls, c.aws.waitTimeSeconds]).toEqual([9003, "error", 3, 9300, ["f1", "f2"], true, 3]);
    // ECOM_CONFIG names the file too.
    expect(load([], { ECOM_CONFIG: file }).port).toBe(9003);
  });

  test("ECOM_* env beats the config file", () => {
    const env = { ECOM_PORT: "9002", ECOM_CASSANDRA_PORT: "9200", ECOM_CASSANDRA_CONTACT_POINTS: "e1, e2,e3", ECOM_CASSANDRA_TLS: "false", ECOM_SQS_WAIT_TIME: "2" };
    const c = load([`--config=${file}`], env);
    expect([c.port, c.logLevel, c.producer.rate, c.cassandra.port, c.cassandra.contactPoints, c.cassandra.tls, c.aws.waitTimeSeconds]).toEqual([9002, "error", 3, 9200, ["e1", "e2", "e3"], false, 2]);
  });

  test("flags beat ECOM_* env", () => {
    const env = { ECOM_PORT: "9002", ECOM_CASSANDRA_PORT: "9200", ECOM_CASSANDRA_TLS: "false", ECOM_LOG_LEVEL: "debug" };
    const c = load([`--config=${file}`, "--port=9001", "--cassandra-port", "9100", "--cassandra-tls", "--rate=0"], env);
    expect([c.port, c.logLevel, c.producer.rate, c.cassandra.port, c.cassandra.tls, c.aws.waitTimeSeconds]).toEqual([9001, "debug", 0, 9100, true, 3]);
    // --no-X and --X=false both switch a boolean off over env and file.
    expect(load([`--config=${file}`, "--no-cassandra-tls"], { ECOM_CASSANDRA_TLS: "true" }).cassandra.tls).toBe(false);
    expect(load([`--config=${file}`, "--cassandra-tls=false"], { ECOM_CASSANDRA_TLS: "true" }).cassandra.tls).toBe(false);
  });

  test("derived values: role lists, endpoints, PUBSUB_EMULATOR_HOST", () => {
    expect(load(["--role=order,payment,order"]).roles).toEqual(["order", "payment"]);
    expect(load(["--role=dlq,all"]).roles).toEqual(["producer", "order", "payment", "analytics", "dlq"]);
    const aws = load(["--aws-endpoint=http://a:1", "--aws-sqs-endpoint=http://q:2"]).aws;
    expect([aws.snsEndpoint, aws.sqsEndpoint]).toEqual(["http://a:1", "http://q:2"]);
    expect(load([], { PUBSUB_EMULATOR_HOST: "localhost:8085" }).pubsub.emulatorHost).toBe("localhost:8085");
    expect(load(["--pubsub-endpoint=h:1"], { PUBSUB_EMULATOR_HOST: "localhost:8085" }).pubsub.emulatorHost).toBe("h:1");
    expect(load(["--shutdown-grace=1.5m", "--inbox-retention=36h", "--dlq-retry-base=2"]).shutdownGraceMs).toBe(90_000);
    expect(load(["--inbox-retention=36h"]).inboxRetentionMs).toBe(36 * 3_600_000);
    expect(load(["--dlq-retry-base=2"]).dlqRetryBaseMs).toBe(2000);
  });

  test("an empty --config is refused; an empty ECOM_CONFIG means none", () => {
    expect(() => load(["--config="])).toThrow(new ConfigError("--config: empty path; give the path of a TOML file (see config/ecom.example.toml)"));
    expect(load([], { ECOM_CONFIG: "" }).port).toBe(8080);
  });

  test("subcommand flags stay apart from settings", () => {
    expect(parseCli(["produce", "--from-file", "x.ndjson", "--skip-invalid", "--data-dir=/d"])).toEqual({
      command: "produce",
      args: [],
      flags: { "data-dir": "/d" },
      options: { "from-file": "x.ndjson", "skip-invalid": true },
    });
    expect(parseCli(["dlq", "replay", "id-1", "--url=http://h:1"])).toEqual({ command: "dlq", args: ["replay", "id-1"], flags: {}, options: { url: "http://h:1" } });
  });
});

describe("invalid settings name the setting and the accepted values", () => {
  test("through loadConfig and parseCli", () => {
    expect(configError(() => load(["--store=mongo"]))).toBe('--store: "mongo" is not valid; accepted: sqlite, cassandra, dynamodb');
    expect(configError(() => load([], { ECOM_PORT: "abc" }))).toBe('ECOM_PORT: "abc" is not valid; accepted: an integer in 0..65535');
    expect(configError(() => load(["--port=70000"]))).toBe('--port: "70000" is not valid; accepted: 0..65535');
    expect(configError(() => load(["--role=order,cashier"]))).toBe('--role: "order,cashier" is not valid; accepted: a comma-separated list of all, producer, order, payment, analytics, dlq');
    expect(configError(() => load(["--shutdown-grace=soon"]))).toBe('--shutdown-grace: "soon" is not valid; accepted: a duration like 500ms, 30s, 5m, 2h, 7d');
    expect(configError(() => load(["--cassandra-keyspace=Audit6-Bad"]))).toBe('--cassandra-keyspace: "Audit6-Bad" is not valid; accepted: lowercase letters, digits and _ (a letter first, at most 48)');
    expect(configError(() => load([], { ECOM_CASSANDRA_REPLICATION: "garbage" }))).toBe(`ECOM_CASSANDRA_REPLICATION: "garbage" is not valid; accepted: a CQL map such as {'class': 'NetworkTopologyStrategy', 'dc1': 3}`);
    expect(configError(() => load(["--unmatched-ratio=2"]))).toBe('--unmatched-ratio: "2" is not valid; accepted: 0..1');
    expect(configError(() => load([], { ECOM_LOG_ORDERS: "perhaps" }))).toBe('ECOM_LOG_ORDERS: "perhaps" is not valid; accepted: true or false');
    expect(configError(() => load(["--dlq-retry-base=10s", "--dlq-retry-max=1s"]))).toBe("--dlq-retry-max must be >= --dlq-retry-base");
    expect(configError(() => parseCli(["--cassandra-tls=maybe"]))).toBe('--cassandra-tls: "maybe" is not valid; accepted: true or false');
    expect(configError(() => parseCli(["--bogus"]))).toBe("Unknown option '--bogus'; see ecom --help");
  });

  test("in a config file: the key, and unknown keys", () => {
    expect(configError(() => load([`--config=${configFile('port = "abc"\n')}`]))).toBe('config key port: "abc" is not valid; accepted: an integer in 0..65535');
    const unknown = configFile("[cassandra]\nhosts = [\"a\"]\n");
    expect(configError(() => load([`--config=${unknown}`]))).toBe(`--config: ${unknown} has unknown key cassandra_hosts; see config/ecom.example.toml for the accepted keys`);
    const broken = configFile("port = \n");
    expect(configError(() => load([`--config=${broken}`]))).toStartWith(`--config: ${broken} is not valid TOML: `);
    expect(configError(() => load(["--config=/nonexistent/ecom.toml"]))).toStartWith("--config: cannot read /nonexistent/ecom.toml: ");
  });

  test("through the binary: exit 2 and one line on stderr", async () => {
    const env = { ECOM_CONFIG: "" };
    const store = await runEcom(["--store=mongo"], env);
    expect(store).toEqual({ code: 2, stdout: "", stderr: 'ecom: --store: "mongo" is not valid; accepted: sqlite, cassandra, dynamodb\n' });
    const port = await runEcom([], { ...env, ECOM_PORT: "abc" });
    expect(port).toEqual({ code: 2, stdout: "", stderr: 'ecom: ECOM_PORT: "abc" is not valid; accepted: an integer in 0..65535\n' });
    const file = configFile("port = 8081\nbogus_key = 1\n");
    const key = await runEcom([`--config=${file}`], env);
    expect(key).toEqual({ code: 2, stdout: "", stderr: `ecom: --config: ${file} has unknown key bogus_key; see config/ecom.example.toml for the accepted keys\n` });
    const flag = await runEcom(["--bogus"], env);
    expect(flag).toEqual({ code: 2, stdout: "", stderr: "ecom: Unknown option '--bogus'; see ecom --help\n" });
  }, 60_000);
});

describe("--help and --version", () => {
  test("--help lists every setting with its env variable and config key", async () => {
    const help = await runEcom(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe("");
    for (const s of SETTINGS) {
      const at = help.stdout.indexOf(`  --${s.name}${s.kind === "bool" ? "\n" : "="}`);
      expect(at).toBeGreaterThan(-1);
      const description = help.stdout.slice(at).split("\n")[1]!;
      expect(description).toContain(s.help);
      expect(description).toContain(`env ${envName(s.name)}, key ${configKey(s.name)}`);
    }
    for (const command of ["produce --from-file F", "provision", "teardown --yes", "migrate", "dlq list"]) expect(help.stdout).toContain(`ecom ${command}`);
    expect((await runEcom(["-h"])).stdout).toBe(help.stdout);
  }, 60_000);

  test("--version prints the package version (with the commit)", async () => {
    const version = await runEcom(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stderr).toBe("");
    expect(version.stdout).toMatch(new RegExp(`^${PKG_VERSION.replaceAll(".", "\\.")}(\\+[0-9a-f]{4,40})?\\n$`));
    expect((await runEcom(["-v"])).stdout).toBe(version.stdout);
  }, 60_000);
});

describe("config/ecom.example.toml documents every setting", () => {
  const text = readFileSync(EXAMPLE, "utf8");
  const lines = text.split("\n");
  const SETTING_LINE = /^# ([a-z][a-z0-9_]*) = (.*)$/;
  /** Every `# key = value` line with the [section] it sits in. */
  const entries: { section: string; key: string; line: number; full: string }[] = [];
  let section = "";
  lines.forEach((line, i) => {
    const header = /^\[([a-z]+)\]$/.exec(line);
    if (header) section = header[1]!;
    const m = SETTING_LINE.exec(line);
    if (m) entries.push({ section, key: m[1]!, line: i, full: section ? `${section}_${m[1]}` : m[1]! });
  });
  const byName = new Map(SETTINGS.map((s) => [configKey(s.name), s]));
  const uncommented = text.replace(/^# ([a-z][a-z0-9_]* = .*)$/gm, "$1");

  test("every setting appears exactly once, with its help and flag on the line above", () => {
    expect(entries.map((e) => e.full).sort()).toEqual(SETTINGS.map((s) => configKey(s.name)).sort());
    for (const e of entries) {
      const s = byName.get(e.full)!;
      expect(lines[e.line - 1]).toStartWith(`# ${s.help}`);
      expect(lines[e.line - 1]).toContain(`--${s.name}, ${envName(s.name)}`);
    }
  });

  test("as shipped (all commented) it loads to the defaults", () => {
    expect(loadConfig({ flags: { config: EXAMPLE }, env: {} })).toEqual(loadConfig({ flags: {}, env: {} }));
  });

  test("uncommented, it loads, and every documented default is the real default", () => {
    const values = resolveSettings({ flags: { config: configFile(uncommented) }, env: {} });
    const defaults = resolveSettings({ flags: {}, env: {} });
    for (const s of SETTINGS) {
      if (s.default !== undefined) expect([s.name, values.get(s.name)]).toEqual([s.name, defaults.get(s.name)]);
      else expect([s.name, values.get(s.name)]).not.toEqual([s.name, undefined]);
    }
    expect(() => loadConfig({ flags: { config: configFile(uncommented) }, env: {} })).not.toThrow();
  });

  /** A valid value that differs from the default, as TOML, and what it resolves to. */
  function otherValue(s: Setting): [string, unknown] {
    switch (s.kind) {
      case "string":
      case "secret": {
        // A string of a set form: one that fits it.
        const v = s.name === "cassandra-replication" ? "{'class': 'SimpleStrategy', 'replication_factor': 3}" : s.pattern ? "x_test" : "x-test";
        return [JSON.stringify(v), v];
      }
      case "int":
      case "number": {
        const base = typeof s.default === "number" ? s.default : (s.min ?? 0);
        const step = s.kind === "int" ? 1 : 0.5;
        const n = s.max !== undefined && base + step > s.max ? base - step : base + step;
        return [String(n), n];
      }
      case "bool":
        return [String(!s.default), !s.default];
      case "enum": {
        const v = s.values!.find((x) => x !== s.default)!;
        return [JSON.stringify(v), v];
      }
      case "list": {
        const v = s.values ? s.values.filter((x) => x !== "all").slice(0, 2) : ["h1", "h2"];
        return [JSON.stringify(v), v];
      }
      case "duration":
        return ['"1234ms"', 1234];
    }
  }

  test("each key, in the section the example puts it, reaches its setting through load.ts", () => {
    for (const e of entries) {
      const s = byName.get(e.full)!;
      const [toml, expected] = otherValue(s);
      expect(expected).not.toEqual(resolveSettings({ flags: {}, env: {} }).get(s.name));
      const file = configFile(`${e.section ? `[${e.section}]\n` : ""}${e.key} = ${toml}\n`);
      expect([s.name, resolveSettings({ flags: { config: file }, env: {} }).get(s.name)]).toEqual([s.name, expected]);
    }
  });

  test("the example passes the binary's own validation", async () => {
    const dir = tempDir();
    // An unknown command is reported after the config loaded: that message proves the binary accepted every key.
    const run = await runEcom([`--config=${configFile(uncommented)}`, `--data-dir=${dir}`, "no-such-command"]);
    expect(run).toEqual({ code: 2, stdout: "", stderr: 'ecom: unknown command "no-such-command"; commands: produce, provision, teardown, migrate, dlq, lambda (see ecom --help)\n' });
  }, 60_000);
});
