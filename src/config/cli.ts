// Command-line parsing (node:util parseArgs) over the settings table, and the --help text.
import { parseArgs } from "node:util";
import { SETTINGS } from "./settings.ts";
import { configKey, envName, ConfigError } from "./load.ts";

/** Flags of subcommands, beside the settings. */
const COMMAND_FLAGS = {
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
  yes: { type: "boolean" },
  "from-file": { type: "string" },
  "skip-invalid": { type: "boolean" },
  archive: { type: "string" },
  alarms: { type: "boolean" },
  all: { type: "boolean" },
  url: { type: "string" },
  reason: { type: "string" },
  status: { type: "string" },
  limit: { type: "string" },
  lambda: { type: "boolean" },
} as const;

export interface ParsedCli {
  command: string | null;
  args: string[];
  /** Setting values from flags, by setting name. */
  flags: Record<string, unknown>;
  /** Subcommand flags. */
  options: Record<string, string | boolean | undefined>;
}

const BOOLS = new Set(SETTINGS.filter((s) => s.kind === "bool").map((s) => s.name));

export function parseCli(argv: string[]): ParsedCli {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { ...COMMAND_FLAGS };
  for (const s of SETTINGS) {
    options[s.name] = { type: s.kind === "bool" ? "boolean" : "string" };
    if (s.kind === "bool") options[`no-${s.name}`] = { type: "boolean" };
  }
  // `--tls=false` is accepted as well as `--tls` / `--no-tls`.
  const args = argv.map((a) => {
    const m = /^--([a-z0-9-]+)=(.*)$/.exec(a);
    if (!m || !BOOLS.has(m[1]!)) return a;
    const v = m[2]!.toLowerCase();
    if (["true", "1", "yes", "on"].includes(v)) return `--${m[1]}`;
    if (["false", "0", "no", "off"].includes(v)) return `--no-${m[1]}`;
    throw new ConfigError(`--${m[1]}: ${JSON.stringify(m[2])} is not valid; accepted: true or false`);
  });
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message.replace(/\. To specify.*$/s, "")}; see ecom --help`);
  }
  const flags: Record<string, unknown> = {};
  const commandOptions: Record<string, string | boolean | undefined> = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    if (name in COMMAND_FLAGS) commandOptions[name] = value as string | boolean;
    else if (name.startsWith("no-") && BOOLS.has(name.slice(3))) flags[name.slice(3)] = false;
    else flags[name] = value;
  }
  if (commandOptions.config !== undefined) flags.config = commandOptions.config;
  const [command = null, ...rest] = parsed.positionals;
  return { command, args: rest, flags, options: commandOptions };
}

export function helpText(version: string): string {
  const lines = [
    `ecom ${version}: real-time order and payment pipeline`,
    "",
    "Usage:",
    "  ecom [--role=all] [--transport=local|sns-sqs|pubsub] [--store=sqlite|cassandra|dynamodb] [settings...]",
    "  ecom produce --from-file F|s3://B/K [--skip-invalid] [--archive=s3://B/PREFIX/] [--publish-timeout=5m]   batch ingest through the outbox",
    "  ecom provision [--yes] [--lambda] [--alarms]  create topics, queues, subscriptions, keyspace, tables",
    "                                                (--lambda: the SQS event source mappings of the ecom-* functions)",
    "                                                (--alarms: the CloudWatch alarms and their SNS topic)",
    "  ecom teardown --yes                           remove them",
    "  ecom migrate                                  apply the store schema (Cassandra keyspace, DynamoDB tables)",
    "  ecom dlq list [--status=S] [--reason=R] [--limit=N]",
    "  ecom dlq show ID | replay ID | replay --all [--reason=R] | discard ID   (against --url, default http://HOST:PORT)",
    "  ecom lambda --role=order|payment|analytics|dlq  serve the Lambda Runtime API (also when AWS_LAMBDA_RUNTIME_API is set)",
    "  ecom --help | --version",
    "",
    "Every setting is also an ECOM_* environment variable and a key of the --config TOML file.",
    "Precedence: flags > ECOM_* environment > config file > defaults.",
  ];
  let group = "";
  for (const s of SETTINGS) {
    if (s.group !== group) {
      group = s.group;
      lines.push("", `${group}:`);
    }
    const def = s.default === undefined ? "" : ` (default ${Array.isArray(s.default) ? s.default.join(",") : s.default})`;
    const values = s.kind === "enum" || (s.kind === "list" && s.values) ? ` [${s.values!.join("|")}]` : "";
    lines.push(`  --${s.name}${s.kind === "bool" ? "" : "=" + s.kind.toUpperCase()}${values}`, `      ${s.help}${def}; env ${envName(s.name)}, key ${configKey(s.name)}`);
  }
  return lines.join("\n");
}
