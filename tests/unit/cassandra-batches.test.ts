// How the Cassandra store groups fact writes and key reads by replica (pure functions; the real server is in tests/integration).
import { expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { keyBytes, replicaBatches, replicaChunks } from "../../src/store/cassandra/index.ts";

const L = cassandra.types.Long.fromNumber;
/** Replica "a" owns even keys, "b" odd ones. */
const replicaOf = (k: cassandra.types.Long) => (k.toNumber() % 2 === 0 ? "a" : "b");
const st = (partition: number, text = "x") => ({ query: "INSERT", params: [text], partition: `p${partition}`, key: L(partition) });
const names = (batches: { partition: string }[][]) => batches.map((b) => b.map((s) => s.partition));

test("statements go in batches of one replica each, at most 10 partitions, in input order", () => {
  const statements = Array.from({ length: 26 }, (_, i) => st(i));
  const batches = names(replicaBatches(statements, replicaOf));
  expect(batches).toEqual([
    ["p0", "p2", "p4", "p6", "p8", "p10", "p12", "p14", "p16", "p18"],
    ["p1", "p3", "p5", "p7", "p9", "p11", "p13", "p15", "p17", "p19"],
    ["p20", "p22", "p24"],
    ["p21", "p23", "p25"],
  ]);
});

test("rows of one partition count once toward the partition limit", () => {
  const statements = [...Array.from({ length: 10 }, (_, i) => st(i * 2)), st(0), st(2), st(20)];
  expect(names(replicaBatches(statements, replicaOf))).toEqual([
    ["p0", "p2", "p4", "p6", "p8", "p10", "p12", "p14", "p16", "p18", "p0", "p2"],
    ["p20"],
  ]);
});

test("a batch stays under 4 KiB; a statement larger than that goes alone", () => {
  const kb = "k".repeat(1200);
  const big = "b".repeat(5000);
  const statements = [st(0, kb), st(2, kb), st(4, kb), st(6, kb), st(8, big), st(10, kb)];
  expect(names(replicaBatches(statements, replicaOf))).toEqual([["p0", "p2", "p4"], ["p8"], ["p6", "p10"]]);
});

test("keys are read in chunks of one replica each, at most `max` keys", () => {
  const keys = Array.from({ length: 11 }, (_, i) => L(i));
  const nums = (chunks: cassandra.types.Long[][]) => chunks.map((c) => c.map((k) => k.toNumber()));
  expect(nums(replicaChunks(keys, replicaOf, 3))).toEqual([[0, 2, 4], [1, 3, 5], [6, 8, 10], [7, 9]]);
  expect(nums(replicaChunks(keys, () => "", 50))).toEqual([Array.from({ length: 11 }, (_, i) => i)]);
});

test("a partition key is routed as the driver serializes a bigint: 8 bytes, big-endian, two's complement", () => {
  expect(keyBytes(L(1)).toString("hex")).toBe("0000000000000001");
  expect(keyBytes(L(2 ** 40 + 7)).toString("hex")).toBe("0000010000000007");
  expect(keyBytes(L(-2)).toString("hex")).toBe("fffffffffffffffe");
});
