// streamRecords: a JSON array or NDJSON read chunk by chunk gives the records a whole-file parse gives, wherever the chunks split.
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/config/load.ts";
import { streamRecords, type FileRecord } from "../../src/cli/produce.ts";

async function* chunked(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function records(text: string, size: number): Promise<FileRecord[]> {
  const out: FileRecord[] = [];
  for await (const r of streamRecords(chunked(text, size))) out.push(r);
  return out;
}

async function refusal(text: string, size: number): Promise<string> {
  try {
    await records(text, size);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("not refused");
}

// Strings holding brackets, commas, escaped quotes and backslashes, and a 4-byte character split across chunks.
const values = [
  { order_id: 1, item: "a [tricky], {item}", note: 'say "hi" \\ bye' },
  { payment_id: 2, nested: [[1, 2], { x: "]" }], emoji: "\u{1F600} caf\u00e9" },
  42,
  "plain",
  null,
];

describe("streamRecords", () => {
  for (const size of [1, 3, 7, 64, 1 << 20]) {
    test(`a JSON array in ${size}-byte chunks: each element by index, as JSON.parse reads it`, async () => {
      const text = "\uFEFF \n" + JSON.stringify(values, null, 2) + "\n  ";
      const got = await records(text, size);
      expect(got).toEqual(values.map((value, i) => ({ where: `index ${i}`, raw: JSON.stringify(value), value })));
    });

    test(`NDJSON in ${size}-byte chunks: lines numbered from 1, blanks skipped, a bad line kept with its error`, async () => {
      const text = `\n${JSON.stringify(values[0])}\r\n\n{"broken": \n${JSON.stringify(values[1])}`;
      const got = await records(text, size);
      expect(got.map((r) => [r.where, r.value, r.parseError === undefined])).toEqual([
        ["line 2", values[0], true],
        ["line 4", undefined, false],
        ["line 5", values[1], true],
      ]);
      expect(got[1]!.parseError).toStartWith("not JSON: ");
      expect(got[1]!.raw).toBe('{"broken": ');
    });

    test(`broken arrays are refused whole (${size}-byte chunks)`, async () => {
      const prefix = "--from-file: the file starts with [ but is not a valid JSON array: ";
      expect(await refusal('[{"a": 1},', size)).toBe(`${prefix}the file ends before the array's closing ]`);
      expect(await refusal("[1, 2] 3", size)).toBe(`${prefix}unexpected "3" after the closing ]`);
      expect(await refusal("[1,,2]", size)).toBe(`${prefix}no value at index 1`);
      expect(await refusal('[{"a": 1]}]', size)).toBe(`${prefix}unexpected } at index 0`);
      expect(await refusal("[1, tru]", size)).toStartWith(`${prefix}index 1: `);
    });
  }

  test("an empty array and an empty file hold no records", async () => {
    expect(await records(" [ ] ", 2)).toEqual([]);
    expect(await records("", 2)).toEqual([]);
    expect(await records("\n\n", 1)).toEqual([]);
  });
});
