// How many replicas the readiness check wants up per consistency level, and the error it gives when they are not.
import { describe, expect, test } from "bun:test";
import type cassandra from "cassandra-driver";
import { checkReplicasUp, replicasNeeded } from "../../src/store/cassandra/replicas.ts";
import { StoreError } from "../../src/store/types.ts";

type FakeHost = { address: string; datacenter: string; isUp(): boolean };
const host = (address: string, up: boolean, datacenter = "dc1"): FakeHost => ({
  address: `${address}:9042`,
  datacenter,
  isUp: () => up,
});
const clientWith = (hosts: FakeHost[]) => ({ getReplicas: () => hosts }) as unknown as cassandra.Client;
const needs = (level: string) => ({ readConsistency: level, writeConsistency: level, localDc: "dc1" });

describe("replicasNeeded", () => {
  test("per level, for 3 local replicas of 5 in all", () => {
    const levels = ["ONE", "LOCAL_ONE", "TWO", "THREE", "QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL", "local_quorum"];
    expect(levels.map((c) => replicasNeeded(c, 3, 5))).toEqual([1, 1, 2, 3, 3, 2, 2, 5, 2]);
  });
  test("a single node at LOCAL_QUORUM needs itself", () => {
    expect(replicasNeeded("LOCAL_QUORUM", 1, 1)).toBe(1);
  });
});

describe("checkReplicasUp", () => {
  test("two of three up passes LOCAL_QUORUM; one of three fails it naming the hosts down", () => {
    const two = clientWith([host("127.0.0.2", true), host("127.0.0.3", true), host("127.0.0.4", false)]);
    expect(() => checkReplicasUp(two, "ks", needs("LOCAL_QUORUM"))).not.toThrow();
    const one = clientWith([host("127.0.0.2", true), host("127.0.0.3", false), host("127.0.0.4", false)]);
    let error: unknown;
    try {
      checkReplicasUp(one, "ks", needs("LOCAL_QUORUM"));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).retryable).toBe(true);
    expect((error as StoreError).message).toBe(
      "cassandra: 1 of 3 replicas up (127.0.0.3, 127.0.0.4 down); LOCAL_QUORUM needs 2",
    );
  });
  test("the stricter of the read and write levels decides; ONE passes with one replica up", () => {
    const one = clientWith([host("a", true), host("b", false), host("c", false)]);
    expect(() => checkReplicasUp(one, "ks", needs("ONE"))).not.toThrow();
    const mixed = { readConsistency: "ONE", writeConsistency: "ALL", localDc: "dc1" };
    expect(() => checkReplicasUp(clientWith([host("a", true), host("b", false)]), "ks", mixed)).toThrow(
      "cassandra: 1 of 2 replicas up (b down); ALL needs 2",
    );
  });
  test("LOCAL_QUORUM counts only the local DC's replicas up", () => {
    const remote = [host("x", true, "dc2"), host("y", true, "dc2")];
    const hosts = [host("a", true), host("b", false), host("c", false), ...remote];
    expect(() => checkReplicasUp(clientWith(hosts), "ks", needs("LOCAL_QUORUM"))).toThrow("LOCAL_QUORUM needs 2");
    expect(() => checkReplicasUp(clientWith(hosts), "ks", needs("QUORUM"))).not.toThrow();
  });
  test("no metadata for the keyspace yet: passes (the reads that follow tell)", () => {
    expect(() => checkReplicasUp(clientWith([]), "ks", needs("ALL"))).not.toThrow();
    const throwing = { getReplicas: () => { throw new Error("no keyspace"); } } as unknown as cassandra.Client;
    expect(() => checkReplicasUp(throwing, "ks", needs("ALL"))).not.toThrow();
  });
});
