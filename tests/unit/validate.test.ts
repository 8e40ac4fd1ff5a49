// Input validation, card masking, dead-letter ids, the seeded generator and log redaction, on every input class.
import { createHash } from "node:crypto";
import { describe, expect, test } from "bun:test";
import { isDuplicated, orderAt, paymentAt, streamAt, UNMATCHED_ORDER_BASE } from "../../src/domain/generator.ts";
import { deadLetterId, maskBody, maskDigits, orderSchema, parseMessage, paymentSchema, validateRecord, type Parsed } from "../../src/domain/validate.ts";
import { logOrder } from "../../src/roles/analytics.ts";
import { createLogger } from "../../src/log.ts";
import { z } from "zod";

const MAX = 262_144;
const order = { order_id: 7, customer_id: 3, item: "Laptop", quantity: 2, price: 1299.99, shipping_address: "1 Main St, Salem", order_status: "pending", creation_date: "2026-01-01T00:00:07.000Z" };
const payment = { payment_id: 9, order_id: 7, payment_method: "credit_card", card_last_four: "4242", payment_status: "completed", payment_datetime: "2026-01-01T00:00:09.500Z" };
const env = (type: string, data: unknown, id = "env-1") => JSON.stringify({ id, type, version: 1, produced_at: "2026-01-01T00:00:10.000Z", data });
const sns = (message: string) =>
  JSON.stringify({ Type: "Notification", MessageId: "sns-1", TopicArn: "arn:aws:sns:us-east-1:000000000000:orders_topic", Message: message, Timestamp: "2026-01-01T00:00:10.000Z" });
const bad = (reason: "malformed" | "invalid", errors: string[], type: "order" | "payment" | null = null, businessKey: string | null = null, envelopeId: string | null = null): Parsed => ({
  ok: false,
  reason,
  errors,
  type,
  businessKey,
  envelopeId,
});

describe("parseMessage", () => {
  test("an envelope around an order or a payment", () => {
    expect(parseMessage(env("order", order), MAX)).toEqual({ ok: true, type: "order", data: order, envelopeId: "env-1", producedAt: "2026-01-01T00:00:10.000Z" });
    expect(parseMessage(env("payment", payment, "env-2"), MAX)).toEqual({ ok: true, type: "payment", data: payment, envelopeId: "env-2", producedAt: "2026-01-01T00:00:10.000Z" });
  });

  test("a bare order and a bare payment (the original producers' format)", () => {
    expect(parseMessage(JSON.stringify(order), MAX)).toEqual({ ok: true, type: "order", data: order, envelopeId: null, producedAt: null });
    expect(parseMessage(JSON.stringify(payment), MAX)).toEqual({ ok: true, type: "payment", data: payment, envelopeId: null, producedAt: null });
  });

  test("an SNS notification around a bare record or an envelope", () => {
    expect(parseMessage(sns(JSON.stringify(order)), MAX)).toEqual({ ok: true, type: "order", data: order, envelopeId: null, producedAt: null });
    expect(parseMessage(sns(env("payment", payment, "env-3")), MAX)).toEqual({ ok: true, type: "payment", data: payment, envelopeId: "env-3", producedAt: "2026-01-01T00:00:10.000Z" });
  });

  test("a date-only creation_date and an offset datetime are accepted", () => {
    expect(parseMessage(JSON.stringify({ ...order, creation_date: "2026-01-01" }), MAX)).toMatchObject({ ok: true, type: "order" });
    expect(parseMessage(JSON.stringify({ ...order, creation_date: "2026-01-01T10:00:00+02:00" }), MAX)).toMatchObject({ ok: true, type: "order" });
  });

  test("malformed JSON", () => {
    expect(parseMessage("{not json", MAX)).toEqual(bad("malformed", ["not JSON: JSON Parse error: Expected '}'"]));
    expect(parseMessage("", MAX)).toEqual(bad("malformed", ["not JSON: JSON Parse error: Unexpected EOF"]));
    expect(parseMessage(sns("not json either"), MAX)).toEqual(bad("malformed", ["not JSON: JSON Parse error: Unexpected identifier \"not\""]));
  });

  test("JSON that is not an object", () => {
    expect(parseMessage("[1,2]", MAX)).toEqual(bad("malformed", ["expected a JSON object, got an array"]));
    expect(parseMessage(JSON.stringify([order]), MAX)).toEqual(bad("malformed", ["expected a JSON object, got an array"]));
    expect(parseMessage('"order"', MAX)).toEqual(bad("malformed", ["expected a JSON object, got string"]));
    expect(parseMessage("42", MAX)).toEqual(bad("malformed", ["expected a JSON object, got number"]));
    expect(parseMessage("null", MAX)).toEqual(bad("malformed", ["expected a JSON object, got null"]));
  });

  test("unknown type", () => {
    expect(parseMessage(env("refund", order, "env-r"), MAX)).toEqual(bad("invalid", ['type: unknown message type "refund"; expected order or payment'], null, null, "env-r"));
    expect(parseMessage(JSON.stringify({ sku: "x", amount: 1 }), MAX)).toEqual(
      bad("invalid", ["unknown message type: neither an envelope nor an order (order_id) or payment (payment_id)"]),
    );
  });

  test("a broken envelope", () => {
    expect(parseMessage(JSON.stringify({ type: "order", data: order }), MAX)).toEqual(bad("invalid", ["id: Invalid input: expected string, received undefined"]));
  });

  test("missing fields", () => {
    const { item: _item, ...noItem } = order;
    expect(parseMessage(env("order", noItem), MAX)).toEqual(bad("invalid", ["item: Invalid input: expected string, received undefined"], "order", "7", "env-1"));
    const { payment_status: _s, payment_datetime: _d, ...noStatus } = payment;
    expect(parseMessage(JSON.stringify(noStatus), MAX)).toEqual(
      bad("invalid", ["payment_status: Invalid input: expected string, received undefined", "payment_datetime: Invalid input: expected string, received undefined"], "payment", "9"),
    );
  });

  test("mistyped fields", () => {
    expect(parseMessage(env("order", { ...order, quantity: "2" }), MAX)).toEqual(bad("invalid", ["quantity: Invalid input: expected number, received string"], "order", "7", "env-1"));
    // The business key itself mistyped: no key, so the dead letter is keyed by its bytes.
    expect(parseMessage(JSON.stringify({ ...order, order_id: "7" }), MAX)).toEqual(bad("invalid", ["order_id: Invalid input: expected number, received string"], "order", null));
    expect(parseMessage(JSON.stringify({ ...order, quantity: 1.5 }), MAX)).toEqual(bad("invalid", ["quantity: Invalid input: expected int, received number"], "order", "7"));
    expect(parseMessage(JSON.stringify({ ...order, creation_date: "yesterday" }), MAX)).toEqual(bad("invalid", ["creation_date: must be an ISO-8601 date or date-time"], "order", "7"));
  });

  test("out-of-range values", () => {
    expect(parseMessage(JSON.stringify({ ...order, quantity: 0 }), MAX)).toEqual(bad("invalid", ["quantity: Too small: expected number to be >=1"], "order", "7"));
    expect(parseMessage(JSON.stringify({ ...order, price: -0.01 }), MAX)).toEqual(bad("invalid", ["price: Too small: expected number to be >=0"], "order", "7"));
    expect(parseMessage(JSON.stringify({ ...order, order_id: -1 }), MAX)).toEqual(bad("invalid", ["order_id: Too small: expected number to be >=0"], "order", "-1"));
    expect(parseMessage(JSON.stringify({ ...order, item: "" }), MAX)).toEqual(bad("invalid", ["item: Too small: expected string to have >=1 characters"], "order", "7"));
  });

  test("a card field holding a full card number is invalid", () => {
    expect(parseMessage(env("payment", { ...payment, card_last_four: "4111111111111111" }), MAX)).toEqual(
      bad("invalid", ["card_last_four: must be exactly 4 digits"], "payment", "9", "env-1"),
    );
    expect(parseMessage(JSON.stringify({ ...payment, card_last_four: "123" }), MAX)).toEqual(bad("invalid", ["card_last_four: must be exactly 4 digits"], "payment", "9"));
  });

  test("a card number pasted into a free-text field is masked to its last four in the valid record", () => {
    const parsed = parseMessage(env("order", { ...order, item: "Gift 4111111111111111", shipping_address: "12 Harbour Street, card 4111-1111-1111-1111" }), MAX);
    expect(parsed).toEqual({
      ok: true,
      type: "order",
      data: { ...order, item: "Gift ************1111", shipping_address: "12 Harbour Street, card ************1111" },
      envelopeId: "env-1",
      producedAt: "2026-01-01T00:00:10.000Z",
    });
    const pay = parseMessage(JSON.stringify({ ...payment, payment_method: "4111 1111 1111 1111", payment_status: "paid 5555555555554444" }), MAX);
    expect(pay.ok && pay.data).toEqual({ ...payment, payment_method: "************1111", payment_status: "paid ************4444" });
    // The produce CLI's path (validateRecord) masks the same way; twelve digits or fewer are left alone.
    const direct = validateRecord("order", { ...order, item: "Widget 4111111111111111", order_status: "ref 123456789012" });
    expect(direct.success && direct.data).toEqual({ ...order, item: "Widget ************1111", order_status: "ref 123456789012" });
  });

  test("oversize body (UTF-8 bytes, not characters)", () => {
    const body = JSON.stringify({ ...order, item: "x".repeat(3000) });
    expect(parseMessage(body, 2048)).toEqual(bad("invalid", [`body is ${body.length} bytes; the limit is 2048`]));
    // 700 three-byte characters: 700 characters but 2100 bytes plus the rest of the record.
    const wide = JSON.stringify({ ...order, item: "€".repeat(700) });
    const bytes = Buffer.byteLength(wide, "utf8");
    expect(bytes).toBeGreaterThan(2048);
    expect(wide.length).toBeLessThan(2048);
    expect(parseMessage(wide, 2048)).toEqual(bad("invalid", [`body is ${bytes} bytes; the limit is 2048`]));
    // Exactly at the limit passes the size check.
    const exact = JSON.stringify(order);
    expect(parseMessage(exact, exact.length)).toMatchObject({ ok: true });
    expect(parseMessage(exact, exact.length - 1)).toEqual(bad("invalid", [`body is ${exact.length} bytes; the limit is ${exact.length - 1}`]));
  });
});

test("date fields accept exactly what z.iso.datetime() (offset or local) or z.iso.date() accept", () => {
  const dateTime = z.iso.datetime({ offset: true, local: true });
  const date = z.iso.date();
  const samples = [
    "2026-01-02T03:04:05.123Z", "2026-01-02", "2026-01-02T03:04:05+01:00", "2026-01-02T03:04:05", "2026-01-02T03:04",
    "2026-01-02T03:04:05.123456789+05:30", "2024-02-29", "2023-02-29", "2026-02-30T00:00:00Z", "2026-13-01", "2026-01-02T25:00:00Z",
    "2026-01-02 03:04:05", "2026-01-02T03:04:05z", " 2026-01-02", "2026-01-02\n", "", "bad",
  ];
  const expected = samples.map((s) => dateTime.safeParse(s).success || date.safeParse(s).success);
  expect(samples.map((s) => orderSchema.shape.creation_date.safeParse(s).success)).toEqual(expected);
  expect(samples.map((s) => paymentSchema.shape.payment_datetime.safeParse(s).success)).toEqual(expected);
  // The first seven are valid; leap days, month lengths and hours are checked, a space or a lower-case z is not ISO.
  expect(expected).toEqual([true, true, true, true, true, true, true, false, false, false, false, false, false, false, false, false, false]);
});

describe("maskBody", () => {
  test("a body with nothing to mask is kept verbatim, numbers JSON cannot round-trip included", () => {
    for (const body of ['{"order_id": 1e309, "item":"x"}', '{"order_id":123456789012345678901234567890}', '{ "a" : [1, 2.50] }']) expect(maskBody(body)).toBe(body);
    expect(maskBody('{"order_id": 1e309, "card_number":"4111111111111111"}')).toBe('{"order_id":null,"card_number":"************1111"}');
  });

  test("a card field keeps only its last four digits, wherever it is nested", () => {
    const body = env("payment", { ...payment, card_last_four: "4111111111111111" });
    expect(maskBody(body)).toBe(env("payment", { ...payment, card_last_four: "************1111" }));
    expect(maskBody(JSON.stringify({ card_number: "4111 1111 1111 1111", pan: 5555555555554444, card_last_four: "1234" }))).toBe(
      JSON.stringify({ card_number: "************1111", pan: "************4444", card_last_four: "1234" }),
    );
    expect(maskBody(JSON.stringify({ cards: ["4111-1111-1111-1111", "12"] }))).toBe(JSON.stringify({ cards: ["************1111", "12"] }));
  });

  test("a card number pasted into another text field is masked too; numbers and short digit runs are not", () => {
    expect(maskBody(JSON.stringify({ payment_method: "card 4111 1111 1111 1111", order_id: 900000000012345, note: "call 555-1234" }))).toBe(
      JSON.stringify({ payment_method: "card ************1111", order_id: 900000000012345, note: "call 555-1234" }),
    );
  });

  test("the digit groups of a UUID or of a longer number are not a card number; a card between punctuation is", () => {
    const ids = ["8f7c0e5e-1111-4222-8333-444455556666", "12345678-1234-1234-1234-123456789012", "a1234567-8901-2345-6789-0123456789ab"];
    for (const id of ids) expect(maskBody(JSON.stringify({ message_id: id, note: `ref ${id}` }))).toBe(JSON.stringify({ message_id: id, note: `ref ${id}` }));
    expect(maskBody(JSON.stringify({ note: "order 12345678901234567890123 shipped" }))).toBe(JSON.stringify({ note: "order 12345678901234567890123 shipped" }));
    expect(maskBody(JSON.stringify({ note: "(4111111111111111), #5555-5555-5555-4444#" }))).toBe(JSON.stringify({ note: "(************1111), #************4444#" }));
  });

  test("inside an SNS Message string", () => {
    const body = sns(JSON.stringify({ ...payment, card_last_four: "4111111111111111" }));
    const masked = maskBody(body);
    expect(masked).not.toContain("4111111111111111");
    expect(JSON.parse(JSON.parse(masked).Message)).toEqual({ ...payment, card_last_four: "************1111" });
  });

  test("a body that is not JSON: every 13-19 digit run", () => {
    expect(maskBody('{"card_last_four": 4111111111111111')).toBe('{"card_last_four": ************1111');
    expect(maskBody("pay 4111 1111 1111 1111 and 5555-5555-5555-4444 now; order 12345")).toBe("pay ************1111 and ************4444 now; order 12345");
  });

  test("a card number sent as a JSON number outside card fields: top level, in an array, in a mistyped text field", () => {
    expect(maskBody("5105105105105100")).toBe('"************5100"');
    expect(maskBody("[4012888888881881]")).toBe('["************1881"]');
    expect(maskBody('{"order_id": 777020, "shipping_address": 5105105105105100, "item": "x"}')).toBe('{"order_id":777020,"shipping_address":"************5100","item":"x"}');
    // Past 2^53 the digits are not exact: masked whatever they are.
    expect(maskBody('{"note": 6011000990139424123}')).toMatch(/^\{"note":"\*{15}\d{4}"\}$/);
    // Kept: the domain's own numbers, numbers that fail the Luhn check (a millisecond time), short or fractional ones.
    for (const body of ['{"order_id":4111111111111111,"payment_ids":[5105105105105100],"quantity":4012888888881881,"price":5105105105105100}', '{"at":1764547200000}', '[4111111111111112, 411111111111, 4111111111111111.5]']) {
      expect(maskBody(body)).toBe(body);
    }
  });

  test("nothing to mask: the JSON is the same", () => {
    expect(maskBody(env("order", order))).toBe(env("order", order));
    expect(maskBody(JSON.stringify(payment))).toBe(JSON.stringify(payment));
    expect(maskDigits("4242")).toBe("4242");
  });
});

describe("deadLetterId", () => {
  test("one record per failing business record", () => {
    expect(deadLetterId("invalid", "order", "7", "{}")).toBe("invalid.order.7");
    expect(deadLetterId("invalid", "order", "7", "something else")).toBe("invalid.order.7");
    expect(deadLetterId("unmatched_order", "payment", "9", "{}")).toBe("unmatched_order.payment.9");
  });

  test("without a type or key: one record per distinct body", () => {
    const sha = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 20);
    expect(deadLetterId("malformed", null, null, "{not json")).toBe(`malformed.sha-${sha("{not json")}`);
    expect(deadLetterId("invalid", "order", null, "[1]")).toBe(`invalid.sha-${sha("[1]")}`);
    expect(deadLetterId("malformed", null, null, "a")).not.toBe(deadLetterId("malformed", null, null, "b"));
    expect(deadLetterId("malformed", null, null, "a")).toMatch(/^malformed\.sha-[0-9a-f]{20}$/);
  });
});

describe("seeded generator", () => {
  const opts = { seed: 42, unmatchedRatio: 0.2, duplicateRatio: 0.1 };
  const stream = (o: typeof opts, n: number) => Array.from({ length: n }, (_, i) => [streamAt(o, i, null, null), isDuplicated(o, i)]);

  test("the same seed gives the same stream; another seed another", () => {
    expect(stream(opts, 400)).toEqual(stream({ ...opts }, 400));
    expect(stream({ ...opts, seed: 43 }, 400)).not.toEqual(stream(opts, 400));
    // Any index alone reproduces its record.
    expect(orderAt(42, 150)).toEqual(streamAt(opts, 298, null, null)!.data as ReturnType<typeof orderAt>);
    expect(paymentAt(opts, 150)).toEqual(streamAt(opts, 299, null, null)!.data as ReturnType<typeof paymentAt>);
  });

  test("every generated record is valid", () => {
    for (let i = 1; i <= 500; i++) {
      expect(orderSchema.safeParse(orderAt(42, i)).success).toBe(true);
      expect(paymentSchema.safeParse(paymentAt(opts, i)).success).toBe(true);
    }
  });

  test("caps: orders and payments alternate, then the rest of the larger one", () => {
    const seq = Array.from({ length: 9 }, (_, n) => streamAt(opts, n, 3, 5)).map((r) => (r ? `${r.type[0]}${r.type === "order" ? r.data.order_id : (r.data as { payment_id: number }).payment_id}` : null));
    expect(seq).toEqual(["o1", "p1", "o2", "p2", "o3", "p3", "p4", "p5", null]);
  });

  test("ratios at 0 and 1", () => {
    const none = { seed: 1, unmatchedRatio: 0, duplicateRatio: 0 };
    const all = { seed: 1, unmatchedRatio: 1, duplicateRatio: 1 };
    for (let j = 1; j <= 200; j++) {
      expect(paymentAt(none, j).order_id).toBe(j);
      expect(paymentAt(all, j).order_id).toBe(UNMATCHED_ORDER_BASE + j);
      expect(isDuplicated(none, j)).toBe(false);
      expect(isDuplicated(all, j)).toBe(true);
    }
  });
});

describe("logger redaction", () => {
  const capture = (level = "info") => {
    const lines: string[] = [];
    const log = createLogger(level, { write: (s: string) => void lines.push(s) });
    return { log, lines };
  };

  test("the per-order analytics line: its fields, a card number pasted into the item masked, the logger's redaction intact", () => {
    const { log, lines } = capture();
    const order = { order_id: 7, customer_id: 3, item: "gift card 4111 1111 1111 1111 sleeve", quantity: 2, price: 10.005, shipping_address: "x", order_status: "pending", creation_date: "2026-01-01T00:00:00Z" };
    logOrder(log, order);
    logOrder(log, { ...order, order_id: 8, item: "Monitor 4K 2024" });
    log.info({ card_number: "4111111111111111" }, "after");
    expect(lines.length).toBe(3);
    const [first, second, after] = lines.map((l) => JSON.parse(l));
    expect(first).toMatchObject({ level: "info", event: "order", order_id: 7, customer_id: 3, item: "gift card ************1111 sleeve", quantity: 2, total: 20.01, status: "pending" });
    expect(second.item).toBe("Monitor 4K 2024");
    expect(after.card_number).toBe("[redacted]");
    expect(lines.join("")).not.toContain("4111 1111 1111 1111");
  });

  test("card numbers, passwords, tokens and authorization headers are censored at any documented depth", () => {
    const { log, lines } = capture();
    log.info(
      {
        card_number: "4111111111111111",
        payment: { card_number: "5555555555554444", card_last_four: "4444" },
        request: { headers: { card_number: "378282246310005" }, authorization: "Bearer s3cret" },
        password: "hunter2",
        cassandra: { password: "cassandra-pw" },
        authorization: "Bearer top",
        admin_token: "s3cret-admin",
      },
      "payment seen",
    );
    expect(lines.length).toBe(1);
    const text = lines[0]!;
    for (const secret of ["4111111111111111", "5555555555554444", "378282246310005", "s3cret", "hunter2", "cassandra-pw", "Bearer top"]) expect(text).not.toContain(secret);
    const { time, ...rest } = JSON.parse(text);
    expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(rest).toEqual({
      level: "info",
      pid: process.pid,
      card_number: "[redacted]",
      payment: { card_number: "[redacted]", card_last_four: "4444" },
      request: { headers: { card_number: "[redacted]" }, authorization: "[redacted]" },
      password: "[redacted]",
      cassandra: { password: "[redacted]" },
      authorization: "[redacted]",
      admin_token: "[redacted]",
      msg: "payment seen",
    });
  });

  test("below the level nothing is written", () => {
    const { log, lines } = capture("warn");
    log.info({ card_number: "4111111111111111" }, "hidden");
    log.warn({ n: 1 }, "shown");
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(["shown"]);
  });
});
