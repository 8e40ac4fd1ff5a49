// The quick checks of a valid record agree with the zod schemas on every field's edge cases (accept, output, reject).
import { expect, test } from "bun:test";
import { envelopeSchema, orderSchema, parseMessage, paymentSchema, validateRecord } from "../../src/domain/validate.ts";

const order = { order_id: 7, customer_id: 3, item: "Laptop", quantity: 2, price: 1299.99, shipping_address: "1 Main St, Salem", order_status: "pending", creation_date: "2026-01-01T00:00:07.000Z" };
const payment = { payment_id: 9, order_id: 7, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-01-01T00:00:09.500Z" };

const pair = "\u{1F600}"; // one code point, two UTF-16 units
const EDGES: unknown[] = [
  undefined, null, true, 0, -0, 1, -1, 1.5, 1e15, 1e15 + 2, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), "", "x", "7", "0042", "42", "12345",
  "a".repeat(64), "a".repeat(65), "a".repeat(1000), "a".repeat(1001), pair.repeat(40), pair.repeat(600), pair.repeat(1001), "\ud800",
  "2026-01-01", "2026-01-01T00:00:07Z", "2026-01-01T00:00:07.000+02:00", "2026-02-30T00:00:00Z", "2026-01-01 00:00:07", [], {}, [1], { a: 1 },
];

/** Every record of `base` with one field set to each edge value, or dropped, plus one extra key. */
function variants(base: Record<string, unknown>): unknown[] {
  const out: unknown[] = [base, { ...base, extra: "kept out" }, null, [], "x"];
  for (const key of Object.keys(base)) {
    for (const value of EDGES) out.push({ ...base, [key]: value });
    const { [key]: _, ...rest } = base;
    out.push(rest);
  }
  return out;
}

test("validateRecord accepts exactly what the zod schema accepts, with the same output", () => {
  let accepted = 0;
  for (const [type, schema, base] of [["order", orderSchema, order], ["payment", paymentSchema, payment]] as const) {
    for (const value of variants(base)) {
      const expected = schema.safeParse(value);
      const got = validateRecord(type, value);
      expect([JSON.stringify(value), got.success]).toEqual([JSON.stringify(value), expected.success]);
      if (got.success && expected.success) {
        accepted++;
        expect(got.data).toEqual(expected.data as never);
        expect(Object.keys(got.data)).toEqual(Object.keys(expected.data));
      } else if (!got.success && !expected.success) {
        expect(got.error.issues.map((i) => i.message)).toEqual(expected.error.issues.map((i) => i.message));
      }
    }
  }
  // Not all rejected: the edge values include valid ones for most fields.
  expect(accepted).toBeGreaterThan(60);
});

test("parseMessage takes the same envelopes as envelopeSchema", () => {
  const fields = { id: "env-1", type: "order", version: 1, produced_at: "2026-01-01T00:00:10.000Z", data: order };
  const cases: unknown[] = [fields];
  for (const key of ["id", "type", "version", "produced_at"] as const) {
    for (const value of [...EDGES, "a".repeat(200), "a".repeat(201)]) cases.push({ ...fields, [key]: value });
    const { [key]: _, ...rest } = fields;
    cases.push(rest);
  }
  let valid = 0;
  for (const value of cases) {
    const body = JSON.stringify(value);
    const object = JSON.parse(body) as Record<string, unknown>;
    if (!("type" in object)) continue; // without both type and data it is read as a bare record, not an envelope
    const expected = envelopeSchema.safeParse(object);
    const parsed = parseMessage(body, 262_144);
    // An envelope that passed carries its id into the result, also when its type or record is then refused.
    expect([body, parsed.ok || parsed.envelopeId !== null]).toEqual([body, expected.success]);
    if (expected.success) {
      valid++;
      if (parsed.ok) expect([parsed.envelopeId, parsed.producedAt]).toEqual([expected.data.id, expected.data.produced_at ?? null]);
    } else if (!parsed.ok) {
      expect(parsed.errors).toEqual(expected.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`));
    }
  }
  expect(valid).toBeGreaterThan(20);
});
