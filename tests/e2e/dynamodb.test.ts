// End to end with --store=dynamodb against moto's DynamoDB, driving the compiled binary (the quick part, in npm test):
// provision twice and the schema check, and a proxy that throttles and hands back items, with every item checked
// on the tables through the SDK. The long scenarios are in dynamodb.slow.ts (npm run test:dynamodb).
import { describe, expect, test } from "bun:test";
import { runEcom, startEcom, tempDir } from "../helpers/ecom.ts";
import { expectNoFailures, expected, prefix, run, SEED, storeArgs, verifyApi, verifyDynamoTables } from "../helpers/dynamodb.ts";
import { startDynamoProxy } from "../helpers/dynamo-proxy.ts";
import { moto, serviceAvailable } from "../helpers/services.ts";
import { waitForCompletion } from "../helpers/verify.ts";

const available = await serviceAvailable("moto");
const TABLES = ["orders_payments_facts", "payments_by_id", "dead_letters"];

describe.skipIf(!available)("--store=dynamodb, end to end on moto", () => {
  test("no tables: exits naming the table and what to do; provision twice creates then finds; teardown keeps the tables", async () => {
    const p = prefix();
    const dir = tempDir();
    const missing = await runEcom(["--role=order", ...storeArgs(p), `--data-dir=${dir}`, "--port=0"]);
    expect([missing.code, missing.stderr.trim().split("\n").at(-1)]).toEqual([1, `ecom: dynamodb table ${p}orders_payments_facts does not exist: run \`ecom migrate\` or start with --auto-migrate`]);
    const lines = (action: string) => TABLES.map((t) => `${action.padEnd(8)} dynamodb table ${p}${t}`);
    for (const [round, action] of [[1, "created"], [2, "exists"]] as const) {
      const out = await runEcom(["provision", ...storeArgs(p), `--data-dir=${dir}`]);
      expect([round, out.code, out.stderr]).toEqual([round, 0, ""]);
      expect(out.stdout.trim().split("\n").filter((l) => l.includes(" dynamodb "))).toEqual(lines(action));
    }
    const migrate = await runEcom(["migrate", ...storeArgs(p), `--data-dir=${dir}`]);
    expect(migrate.stdout.trim().split("\n").filter((l) => l.includes(" dynamodb "))).toEqual(lines("exists"));
    const teardown = await runEcom(["teardown", "--yes", ...storeArgs(p), `--data-dir=${dir}`]);
    expect(teardown.code).toBe(0);
    expect(teardown.stdout.trim().split("\n").filter((l) => l.includes(" dynamodb "))).toEqual(
      TABLES.map((t) => `kept     dynamodb table ${p}${t} (its data stays; aws dynamodb delete-table to remove it)`),
    );
    // the tables are still there: ecom starts on them without --auto-migrate
    const app = await startEcom(["--role=order", ...storeArgs(p), `--data-dir=${tempDir()}`]);
    try {
      expect(await app.get("/readyz")).toEqual({ ready: true, transport: "ok", store: "ok", data_dir: "ok" });
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
    }
  }, 120_000);

  test("a proxy throttles every 4th BatchWriteItem and UpdateItem and writes half of every 3rd batch: every item retried and stored", async () => {
    const M = 300;
    const mexp = expected(M);
    const proxy = await startDynamoProxy(moto.endpoint, {
      throttle: (op, n) => (op === "BatchWriteItem" || op === "UpdateItem") && n % 4 === 0,
      partial: (n, items) => (n % 3 === 0 ? Math.floor(items / 2) : undefined),
    });
    const p = prefix();
    try {
      const app = await startEcom(["--role=all", ...run(M), ...storeArgs(p, proxy.endpoint), "--auto-migrate", `--data-dir=${tempDir()}`]);
      try {
        await waitForCompletion(app, mexp, 240_000);
        await verifyApi(app, mexp, SEED);
        expectNoFailures((await app.get("/status")).counters);
        expect(await app.stop()).toBe(0);
      } finally {
        app.proc.kill("SIGKILL");
      }
      await verifyDynamoTables(p, mexp, SEED);
      const [batches, updates] = [proxy.calls.get("BatchWriteItem") ?? 0, proxy.calls.get("UpdateItem") ?? 0];
      console.info(`dynamodb proxy: ${batches} BatchWriteItem (${proxy.throttled.get("BatchWriteItem")} throttled, ${proxy.unprocessed} items handed back), ${updates} UpdateItem (${proxy.throttled.get("UpdateItem")} throttled)`);
      expect(proxy.throttled.get("BatchWriteItem")).toBeGreaterThan(2);
      expect(proxy.throttled.get("UpdateItem")).toBeGreaterThan(50);
      expect(proxy.unprocessed).toBeGreaterThan(20);
    } finally {
      proxy.close();
    }
  }, 400_000);
});
