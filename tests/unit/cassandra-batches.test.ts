// How the Cassandra store groups fact writes and key reads by replica (pure functions; the real server is in tests/integration).
import { expect, test } from "bun:test";
import { replicaBatches, replicaChunks } from "../../src/store/cassandra.ts";

const token = (n: number) => Buffer.from([n]);
/** Replica "a" owns even tokens, "b" odd ones. */
const replicaOf = (t: Buffer) => (t[0]! % 2 === 0 ? "a" : "b");
const st = (partition: number, text = "x") => ({ query: "INSERT", params: [text], partition: `p${partition}`, token: token(partition) });
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
  const keys = Array.from({ length: 11 }, (_, i) => i);
  expect(replicaChunks(keys, token, replicaOf, 3)).toEqual([[0, 2, 4], [1, 3, 5], [6, 8, 10], [7, 9]]);
  expect(replicaChunks(keys, token, () => "", 50)).toEqual([keys]);
});
