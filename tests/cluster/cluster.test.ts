// ecom on a real 3-node Cassandra cluster (scripts/services start cassandra-cluster): RF 3, LOCAL_QUORUM, a node
// killed mid-run, two nodes down, and the store contract. Runs when the cluster answers (npm run test:cluster starts it).
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { connect } from "node:net";
import cassandra from "cassandra-driver";
import type { CassandraConfig } from "../../src/config/types.ts";
import { createCassandraStore } from "../../src/store/cassandra/index.ts";
import type { Store } from "../../src/store/types.ts";
import { storeContract } from "../contract/store.contract.ts";
import { ROOT, runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { expectedRun } from "../helpers/expected.ts";
import { verifyFinal, waitForCompletion } from "../helpers/verify.ts";
import { waitFor } from "../helpers/wait.ts";

const HOSTS = (process.env.ECOM_CLUSTER_HOSTS ?? "127.0.0.1,127.0.0.2,127.0.0.3").split(",").filter(Boolean);
const PORT = Number(process.env.ECOM_CLUSTER_CQL_PORT ?? 9042);
const REPLICATION = "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}";

function answers(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port: PORT });
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** The cluster is ours to use when scripts/services runs its three nodes here (a node on 127.0.0.1 alone is not it). */
async function clusterUp(): Promise<boolean> {
  const status = spawnSync("scripts/services", ["status", "cassandra-cluster"], { cwd: ROOT, encoding: "utf8" });
  const up = status.status === 0 && (await Promise.all(HOSTS.map(answers))).every(Boolean);
  if (!up) {
    const reason = `the 3-node cluster is not running on ${HOSTS.join(",")}:${PORT}; npm run test:cluster starts it`;
    if (process.env.ECOM_REQUIRE_CLUSTER === "1") throw new Error(reason);
    console.warn(`SKIP: ${reason}`);
  }
  return up;
}
const up = await clusterUp();

/** Runs scripts/services without blocking this process (ecom's output is read by it meanwhile). */
async function services(...args: string[]): Promise<void> {
  // A node restart on a loaded 2-core machine has been seen to take over 180 s (a 110 s JVM pause in its log).
  const proc = Bun.spawn(["scripts/services", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ECOM_CASSANDRA_TIMEOUT: process.env.ECOM_CASSANDRA_TIMEOUT ?? "600" } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`scripts/services ${args.join(" ")} failed: ${out}${err.slice(-2000)}`);
  console.info(`scripts/services ${args.join(" ")}: ${out.trim().split("\n").join("; ")}`);
}

const keyspaces: string[] = [];
const fresh = () => {
  const ks = `ecom_cl_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  keyspaces.push(ks);
  return ks;
};
const storeArgs = (ks: string) => [
  "--store=cassandra",
  `--cassandra-contact-points=${HOSTS.join(",")}`,
  `--cassandra-port=${PORT}`,
  `--cassandra-keyspace=${ks}`,
  `--cassandra-replication=${REPLICATION}`,
  "--cassandra-read-consistency=LOCAL_QUORUM",
  "--cassandra-write-consistency=LOCAL_QUORUM",
];

afterAll(async () => {
  if (!up || keyspaces.length === 0) return;
  const client = new cassandra.Client({ contactPoints: HOSTS, localDataCenter: "datacenter1", protocolOptions: { port: PORT } });
  for (const ks of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`).catch(() => {});
  await client.shutdown();
}, 120_000);

const SEED = 31;
const N = 3000;
const RUN = [`--orders=${N}`, `--payments=${N}`, "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", "--rate=250", `--seed=${SEED}`];
const exp = expectedRun({ seed: SEED, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, N, N);
const failedBatches = (c: any) => ["order", "payment", "analytics", "dlq"].reduce((n, r) => n + c[r].failed, 0);

async function migrated(): Promise<{ ks: string; dir: string }> {
  const ks = fresh();
  const dir = tempDir();
  const m = await runEcom(["migrate", ...storeArgs(ks), `--data-dir=${dir}`]);
  expect([m.code, m.stderr]).toEqual([0, ""]);
  return { ks, dir };
}

describe.skipIf(!up)("3-node Cassandra cluster, RF 3, LOCAL_QUORUM", () => {
  test("the keyspace is NetworkTopologyStrategy with 3 replicas, and every node is Up/Normal", async () => {
    const { ks } = await migrated();
    const client = new cassandra.Client({ contactPoints: HOSTS, localDataCenter: "datacenter1", protocolOptions: { port: PORT } });
    try {
      const row = (await client.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [ks])).first();
      expect(row.replication).toEqual({ class: "org.apache.cassandra.locator.NetworkTopologyStrategy", datacenter1: "3" });
      await client.connect();
      expect(client.getState().getConnectedHosts().map((h) => h.address.split(":")[0]).sort()).toEqual([...HOSTS].sort());
    } finally {
      await client.shutdown();
    }
  }, 120_000);

  test("one node SIGKILLed mid-run and started later: work goes on at quorum, every order and payment stored once", async () => {
    const { ks, dir } = await migrated();
    const app = await startEcom(["--role=all", ...RUN, ...storeArgs(ks), `--data-dir=${dir}`, "--visibility-timeout=10s"]);
    try {
      await waitFor("the first orders stored", async () => (await app.get("/status")).counters.order.processed >= 300, { timeoutMs: 120_000 });
      await services("kill", "cassandra-cluster", "3");
      const at = (await app.get("/status")).counters.order.processed;
      // Two of three replicas answer: still ready, and orders keep being stored.
      await waitFor("orders stored with a node down", async () => (await app.get("/status")).counters.order.processed >= at + 500, { timeoutMs: 120_000 });
      const ready = await app.request("/readyz");
      expect([ready.status, (await ready.json()).store]).toEqual([200, "ok"]);
      await services("start", "cassandra-cluster", "3");
      await waitForCompletion(app, exp, 300_000);
      const status = await verifyFinal(app, exp, SEED);
      expect(failedBatches(status.counters)).toBe(0);
      expect(await app.stop()).toBe(0);
    } finally {
      app.proc.kill("SIGKILL");
      await services("start", "cassandra-cluster");
    }
  }, 600_000);

  test("two nodes down: quorum writes fail, consumers hold and back off, /readyz says why; back: all rows present", async () => {
    const { ks, dir } = await migrated();
    let app: Running | null = null;
    try {
      app = await startEcom(["--role=all", ...RUN, ...storeArgs(ks), `--data-dir=${dir}`, "--visibility-timeout=10s"]);
      await waitFor("the first orders stored", async () => (await app!.get("/status")).counters.order.processed >= 300, { timeoutMs: 120_000 });
      await services("kill", "cassandra-cluster", "2");
      await services("kill", "cassandra-cluster", "3");
      const notReady = await waitFor("/readyz 503", async () => {
        const res = await app!.request("/readyz");
        return res.status === 503 ? res.json() : null;
      }, { timeoutMs: 30_000, intervalMs: 250 });
      expect(notReady.store).toMatch(/^unavailable: .*(LOCAL_QUORUM|replicas|consistency|available)/i);
      expect(notReady.data_dir).toBe("ok");
      // Nothing that needs the store moves, and no batch fails, over ten seconds of polls.
      const held = await waitFor("consumers held", async () => {
        const a = (await app!.get("/status")).counters;
        await Bun.sleep(3000);
        const b = (await app!.get("/status")).counters;
        return a.order.processed === b.order.processed && a.payment.matched === b.payment.matched ? b : null;
      }, { timeoutMs: 60_000 });
      for (let i = 0; i < 10; i++) {
        const c = (await app.get("/status")).counters;
        expect([c.order.processed, c.payment.matched]).toEqual([held.order.processed, held.payment.matched]);
        expect(failedBatches(c)).toBe(0);
        await Bun.sleep(1000);
      }
      expect(held.order.processed).toBeLessThan(N);
      expect(app.output()).toContain("store unavailable; holding messages and backing off");
      await services("start", "cassandra-cluster", "2");
      await services("start", "cassandra-cluster", "3");
      await waitFor("/readyz 200", async () => (await app!.request("/readyz")).status === 200, { timeoutMs: 120_000, intervalMs: 500 });
      await waitForCompletion(app, exp, 300_000);
      const status = await verifyFinal(app, exp, SEED);
      expect(failedBatches(status.counters)).toBe(0);
      expect(await app.stop()).toBe(0);
    } finally {
      app?.proc.kill("SIGKILL");
      await services("start", "cassandra-cluster");
    }
  }, 900_000);
});

if (up) {
  const made: { store: Store; ks: string }[] = [];
  const config = (keyspace: string): CassandraConfig => ({
    contactPoints: HOSTS,
    port: PORT,
    localDc: "datacenter1",
    keyspace,
    tls: false,
    tlsInsecure: false,
    readConsistency: "LOCAL_QUORUM",
    writeConsistency: "LOCAL_QUORUM",
    requestTimeoutMs: 12_000,
    concurrency: 64,
    replication: REPLICATION,
    autoMigrate: false,
  });
  storeContract(
    "cassandra, 3-node cluster",
    async () => {
      const ks = fresh();
      const store = await createCassandraStore(config(ks));
      made.push({ store, ks });
      await store.migrate();
      return store;
    },
    async () => {
      for (const { store } of made.splice(0)) await store.close();
    },
  );
}
