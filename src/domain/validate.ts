// Turns any incoming body into a typed order/payment, or a dead-letter reason with the errors.
import { createHash } from "node:crypto";
import { z } from "zod";
import { regexes } from "zod/v4/core";
import type { DeadLetterReason, Order, Payment } from "./model.ts";

const int64 = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
// zod's own ISO date-time (offset or local) and date patterns as one regex: the same strings pass as with
// z.iso.datetime() or z.iso.date(), at ~0.25 us a field against ~2 us for two nested safeParse calls.
const inner = (re: RegExp) => re.source.replace(/^\^/, "").replace(/\$$/, "");
const ISO_TIME = new RegExp(`^(?:${inner(regexes.datetime({ offset: true, local: true, precision: null }))}|${inner(regexes.date)})$`);
const isoTime = z.string().regex(ISO_TIME, "must be an ISO-8601 date or date-time");
const text = (max: number) => z.string().min(1).max(max);

export const orderSchema = z.object({
  order_id: int64,
  customer_id: int64,
  item: text(1000),
  quantity: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  price: z.number().min(0).max(1e15),
  shipping_address: text(2000),
  order_status: text(64),
  creation_date: isoTime,
});

export const paymentSchema = z.object({
  payment_id: int64,
  order_id: int64,
  payment_method: text(64),
  card_last_four: z.string().regex(/^\d{4}$/, "must be exactly 4 digits"),
  payment_status: text(64),
  payment_datetime: isoTime,
});

export const envelopeSchema = z.object({
  id: z.string().min(1).max(200),
  type: z.string(),
  version: z.union([z.number(), z.string()]).optional(),
  produced_at: z.string().max(64).optional(),
  data: z.unknown(),
});

export type MessageType = "order" | "payment";

export interface Envelope<T = unknown> {
  id: string;
  type: MessageType | "dead_letter";
  version: number;
  produced_at: string;
  data: T;
}

export type Parsed =
  | { ok: true; type: "order"; data: Order; envelopeId: string | null; producedAt: string | null }
  | { ok: true; type: "payment"; data: Payment; envelopeId: string | null; producedAt: string | null }
  | {
      ok: false;
      reason: Extract<DeadLetterReason, "malformed" | "invalid">;
      errors: string[];
      type: MessageType | null;
      businessKey: string | null;
      envelopeId: string | null;
    };

const issueText = (issues: z.core.$ZodIssue[]) =>
  issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The SNS notification envelope around a payload (delivery without RawMessageDelivery). */
function unwrapSns(value: Record<string, unknown>): unknown {
  if (value.Type === "Notification" && typeof value.Message === "string" && typeof value.TopicArn === "string") {
    return JSON.parse(value.Message);
  }
  return value;
}

/** Which record a bare object is: a record with payment_id is a payment (SPEC §3). */
export function detectType(value: Record<string, unknown>): MessageType | null {
  if ("payment_id" in value) return "payment";
  if ("order_id" in value) return "order";
  return null;
}

function keyOf(type: MessageType | null, value: unknown): string | null {
  if (!type || !isObject(value)) return null;
  const key = type === "payment" ? value.payment_id : value.order_id;
  return typeof key === "number" && Number.isSafeInteger(key) ? String(key) : null;
}

/** The free-text fields of each record type: a card number pasted into one is masked before the record goes anywhere. */
const FREE_TEXT = {
  order: ["item", "shipping_address", "order_status"],
  payment: ["payment_method", "payment_status"],
} as const satisfies Record<MessageType, readonly string[]>;
/** Cheap pre-check for maskText: a run of 13 digits, single spaces or dashes allowed between them. */
const MAYBE_CARD = /\d(?:[ -]?\d){12}/;

// The schemas' checks written out, for the common case of a valid record (zod's safeParse costs ~4 us a record, most
// of the validation's time in the embedded pipeline). Each says true only where its zod schema accepts the value; on
// any doubt it says false and zod decides, with its error texts. Strings are measured in UTF-16 units: a string
// within the limit in units is within it in code points too (zod counts those), one beyond goes to zod.
const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.length >= 1 && v.length <= max;
const isId = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isIso = (v: unknown): v is string => typeof v === "string" && ISO_TIME.test(v);
const FOUR_DIGITS = /^\d{4}$/;

/** The order `orderSchema` would return for `v` (known keys, in its order), or null to let zod decide. */
function quickOrder(v: Record<string, unknown>): Order | null {
  const { order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date } = v;
  if (!isId(order_id) || !isId(customer_id) || !isText(item, 1000) || !isText(shipping_address, 2000) || !isText(order_status, 64)) return null;
  if (typeof quantity !== "number" || !Number.isSafeInteger(quantity) || quantity < 1) return null;
  if (typeof price !== "number" || !Number.isFinite(price) || price < 0 || price > 1e15 || !isIso(creation_date)) return null;
  return { order_id, customer_id, item, quantity, price, shipping_address, order_status, creation_date };
}

/** The payment `paymentSchema` would return for `v`, or null to let zod decide. */
function quickPayment(v: Record<string, unknown>): Payment | null {
  const { payment_id, order_id, payment_method, card_last_four, payment_status, payment_datetime } = v;
  if (!isId(payment_id) || !isId(order_id) || !isText(payment_method, 64) || !isText(payment_status, 64) || !isIso(payment_datetime)) return null;
  if (typeof card_last_four !== "string" || !FOUR_DIGITS.test(card_last_four)) return null;
  return { payment_id, order_id, payment_method, card_last_four, payment_status, payment_datetime };
}

/** The envelope fields `envelopeSchema` would accept, or null to let zod decide. */
function quickEnvelope(v: Record<string, unknown>): { id: string; type: string; produced_at?: string; data: unknown } | null {
  const { id, type, version, produced_at } = v;
  if (!isText(id, 200) || typeof type !== "string") return null;
  if (version !== undefined && typeof version !== "string" && (typeof version !== "number" || !Number.isFinite(version))) return null;
  if (produced_at !== undefined && (typeof produced_at !== "string" || produced_at.length > 64)) return null;
  return { id, type, produced_at: produced_at as string | undefined, data: v.data };
}

type RecordResult = { success: true; data: Order | Payment } | { success: false; error: z.ZodError };

/**
 * Validates one bare record of a known type. A valid record's free-text fields come back with any card number masked
 * to its last four (SPEC §5: card data never beyond the last four), so the store, the API and analytics never see one.
 */
export function validateRecord(type: MessageType, value: unknown): RecordResult {
  const quick = isObject(value) ? (type === "order" ? quickOrder(value) : quickPayment(value)) : null;
  const result: RecordResult = quick
    ? { success: true, data: quick }
    : ((type === "order" ? orderSchema.safeParse(value) : paymentSchema.safeParse(value)) as RecordResult);
  if (result.success) {
    const record = result.data as unknown as Record<string, unknown>;
    for (const key of FREE_TEXT[type]) {
      const text = record[key] as string;
      if (MAYBE_CARD.test(text)) record[key] = maskText(text);
    }
  }
  return result;
}

/** Parses a raw body (envelope, bare record, or either inside an SNS notification). Never throws. */
export function parseMessage(body: string, maxBytes: number): Parsed {
  const fail = (reason: "malformed" | "invalid", errors: string[], type: MessageType | null = null, value?: unknown, envelopeId: string | null = null): Parsed => ({
    ok: false,
    reason,
    errors,
    type,
    businessKey: keyOf(type, value),
    envelopeId,
  });
  // A UTF-16 length times 3 bounds the UTF-8 size: count bytes only when the body could be too large.
  const bytes = body.length * 3 > maxBytes ? Buffer.byteLength(body, "utf8") : body.length;
  if (bytes > maxBytes) return fail("invalid", [`body is ${bytes} bytes; the limit is ${maxBytes}`]);
  let value: unknown;
  try {
    value = JSON.parse(body);
    if (isObject(value)) value = unwrapSns(value);
  } catch (error) {
    return fail("malformed", [`not JSON: ${(error as Error).message}`]);
  }
  if (!isObject(value)) return fail("malformed", [`expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`]);
  let envelopeId: string | null = null;
  let producedAt: string | null = null;
  let type: MessageType | null;
  let data: unknown = value;
  if ("data" in value && "type" in value) {
    let env = quickEnvelope(value);
    if (!env) {
      const checked = envelopeSchema.safeParse(value);
      if (!checked.success) return fail("invalid", issueText(checked.error.issues));
      env = checked.data;
    }
    envelopeId = env.id;
    producedAt = env.produced_at ?? null;
    if (env.type !== "order" && env.type !== "payment") {
      return fail("invalid", [`type: unknown message type ${JSON.stringify(env.type).slice(0, 80)}; expected order or payment`], null, undefined, envelopeId);
    }
    type = env.type;
    data = env.data;
  } else {
    type = detectType(value);
    if (!type) return fail("invalid", ["unknown message type: neither an envelope nor an order (order_id) or payment (payment_id)"]);
  }
  const result = validateRecord(type, data);
  if (!result.success) return fail("invalid", issueText(result.error.issues), type, data, envelopeId);
  return type === "order"
    ? { ok: true, type, data: result.data as Order, envelopeId, producedAt }
    : { ok: true, type, data: result.data as Payment, envelopeId, producedAt };
}

const CARD_KEY = /card|pan$/i;
/**
 * 13-19 digits, single spaces or dashes between them, standing alone: not glued to letters or digits, nor
 * joined to them by a dash (so the digit groups of a UUID or a longer number are not taken for a card).
 */
const LONG_DIGITS = /(?<![0-9A-Za-z])(?<![0-9A-Za-z]-)\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])(?!-[0-9A-Za-z])/g;

/** Keeps the last four digits of anything that looks like a card number. */
export function maskDigits(value: string): string {
  const digits = value.replace(/\D/g, "");
  if (digits.length <= 4) return value;
  return "*".repeat(digits.length - 4) + digits.slice(-4);
}

/** Masks a card number pasted into free text (13-19 digits, spaces or dashes allowed), keeping its last four. */
export function maskText(value: string): string {
  return value.replace(LONG_DIGITS, maskDigits);
}

/** Keys whose numbers are the domain's own (ids, quantity, price): never taken for a card number. */
const DOMAIN_NUMBER_KEY = /(^|_)ids?$|^quantity$|^price$/i;

/** The Luhn check every card number passes (and 9 in 10 other digit strings fail). */
function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * A JSON number that may be a card number sent as a number: an integer of 13-19 digits passing the Luhn check (past
 * 2^53 its digits are no longer exact, so it is taken as one).
 */
function cardLikeNumber(value: number): boolean {
  if (!Number.isInteger(value) || value < 1e12 || value >= 1e19) return false;
  return !Number.isSafeInteger(value) || luhn(String(value));
}

function maskValue(key: string, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => maskValue(key, v));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskValue(k, v)]));
  if (CARD_KEY.test(key) && (typeof value === "string" || typeof value === "number")) {
    const s = String(value);
    return s.replace(/\D/g, "").length > 4 ? maskDigits(s) : value;
  }
  if (typeof value === "string" && value.startsWith("{")) {
    try {
      return JSON.stringify(maskCardData(JSON.parse(value)));
    } catch {
      return value.replace(LONG_DIGITS, maskDigits);
    }
  }
  // A card number pasted into any other text field (13-19 digits, spaces or dashes allowed).
  if (typeof value === "string") return value.replace(LONG_DIGITS, maskDigits);
  // Or sent as a bare number anywhere else (a top-level number, an array element, a mistyped text field).
  if (typeof value === "number" && !DOMAIN_NUMBER_KEY.test(key) && cardLikeNumber(value)) return maskDigits(String(value));
  return value;
}

/** Masks card fields of a parsed value (nested SNS Message strings included). */
export function maskCardData<T>(value: T): T {
  return maskValue("", value) as T;
}

/**
 * Masks card numbers in a raw body: card fields when it is JSON, any 13-19 digit run when it is not. A JSON body with
 * nothing to mask comes back verbatim (re-serializing would change what the sender sent: 1e309 becomes null, a 30-digit
 * integer loses digits).
 */
export function maskBody(body: string): string {
  try {
    const parsed = JSON.parse(body);
    const masked = JSON.stringify(maskCardData(parsed));
    return masked === JSON.stringify(parsed) ? body : masked;
  } catch {
    return body.replace(LONG_DIGITS, maskDigits);
  }
}

/** The stable dead-letter record id: one record per failing business record, else per distinct body. */
export function deadLetterId(reason: DeadLetterReason, type: string | null, businessKey: string | null, body: string): string {
  if (type && businessKey) return `${reason}.${type}.${businessKey}`;
  return `${reason}.sha-${createHash("sha256").update(body).digest("hex").slice(0, 20)}`;
}
