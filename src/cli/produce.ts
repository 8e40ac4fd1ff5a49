// `ecom produce --from-file F [--skip-invalid]`: validate every record, then publish through the outbox.
import { readFileSync } from "node:fs";
import type { Config } from "../config/types.ts";
import { ConfigError } from "../config/load.ts";
import { openDataDir } from "../runtime.ts";
import { envelope } from "../domain/envelope.ts";
import type { DeadLetterInput } from "../domain/model.ts";
import { deadLetterId, detectType, maskBody, validateRecord } from "../domain/validate.ts";
import { createLogger } from "../log.ts";
import { Counters } from "../inbox/inbox.ts";
import { Outbox } from "../outbox/outbox.ts";
import { drainOnce } from "../outbox/relay.ts";
import { deadLetterMessage, pause } from "../roles/context.ts";
import { createTransport } from "../transport/index.ts";
import type { OutgoingMessage } from "../transport/types.ts";

export interface FileRecord {
  /** "line 3" (NDJSON) or "index 2" (JSON array). */
  where: string;
  raw: string;
  value?: unknown;
  parseError?: string;
}

/** Splits a JSON array or NDJSON file into records, keeping where each came from. */
export function readRecords(text: string): FileRecord[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) {
    let array: unknown;
    try {
      array = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`--from-file: the file starts with [ but is not a valid JSON array: ${(error as Error).message}`);
    }
    return (array as unknown[]).map((value, i) => ({ where: `index ${i}`, raw: JSON.stringify(value), value }));
  }
  const out: FileRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push({ where: `line ${i + 1}`, raw: line, value: JSON.parse(line) });
    } catch (error) {
      out.push({ where: `line ${i + 1}`, raw: line, parseError: `not JSON: ${(error as Error).message}` });
    }
  });
  return out;
}

export interface Checked {
  messages: OutgoingMessage[];
  orders: number;
  payments: number;
  problems: { where: string; reason: "malformed" | "invalid"; errors: string[]; type: string | null; key: string | null; raw: string }[];
}

/** Validates every record; valid ones become outbox messages. */
export function checkRecords(records: FileRecord[], now: Date): Checked {
  const checked: Checked = { messages: [], orders: 0, payments: 0, problems: [] };
  for (const r of records) {
    if (r.parseError) {
      checked.problems.push({ where: r.where, reason: "malformed", errors: [r.parseError], type: null, key: null, raw: r.raw });
      continue;
    }
    const value = r.value;
    const type = value && typeof value === "object" && !Array.isArray(value) ? detectType(value as Record<string, unknown>) : null;
    if (!type) {
      checked.problems.push({ where: r.where, reason: "invalid", errors: ["neither an order (order_id) nor a payment (payment_id)"], type: null, key: null, raw: r.raw });
      continue;
    }
    const result = validateRecord(type, value);
    if (!result.success) {
      const v = value as Record<string, unknown>;
      const key = type === "payment" ? v.payment_id : v.order_id;
      checked.problems.push({
        where: r.where,
        reason: "invalid",
        errors: result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`),
        type,
        key: typeof key === "number" && Number.isSafeInteger(key) ? String(key) : null,
        raw: r.raw,
      });
      continue;
    }
    const data = result.data as { order_id: number; payment_id?: number };
    const env = envelope(type, data, now);
    checked.messages.push({ id: env.id, topic: type === "order" ? "orders" : "payments", body: JSON.stringify(env), orderingKey: String(data.order_id) });
    if (type === "order") checked.orders++;
    else checked.payments++;
  }
  return checked;
}

export async function produceFromFile(config: Readonly<Config>, options: Record<string, string | boolean | undefined>): Promise<number> {
  const file = options["from-file"];
  if (typeof file !== "string") throw new ConfigError("produce needs --from-file F (a JSON array or NDJSON of orders and payments)");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`--from-file: cannot read ${file}: ${(error as Error).message}`);
  }
  const now = new Date();
  const checked = checkRecords(readRecords(text), now);
  for (const p of checked.problems) console.error(`${file}: ${p.where}: ${p.reason}: ${p.errors.join("; ")}`);
  if (checked.problems.length && !options["skip-invalid"]) {
    console.error(`${checked.problems.length} invalid record(s); nothing was published (use --skip-invalid to publish the valid ones and dead-letter the rest)`);
    return 1;
  }
  const deadLetters: DeadLetterInput[] = checked.problems.map((p) => {
    const original = maskBody(p.raw);
    return {
      id: deadLetterId(p.reason, p.type, p.key, p.raw),
      reason: p.reason,
      details: [`${file} ${p.where}`, ...p.errors],
      original,
      topic: p.type === "payment" ? "payments" : "orders",
      subscription: "produce",
      message_id: `${file}:${p.where}`,
      type: p.type,
      business_key: p.key,
      seen_at: now.toISOString(),
    };
  });
  const log = createLogger(config.logLevel === "info" ? "warn" : config.logLevel, 2);
  const handle = await openDataDir(config);
  const transport = await createTransport(config, handle, log);
  const outbox = new Outbox(handle);
  const counters = new Counters(handle);
  try {
    const all = [...checked.messages, ...deadLetters.map((d) => deadLetterMessage(d, now, transport.maxMessageBytes))];
    let last = 0;
    handle.db.transaction((tx) => {
      outbox.add(all, tx);
      last = outbox.lastSeq();
      counters.add("producer", { orders: checked.orders, payments: checked.payments, invalid: deadLetters.length, dead_lettered: deadLetters.length }, tx);
    }, { behavior: "immediate" });
    // Relay until our rows are confirmed; an interruption leaves them in the outbox for any ecom process.
    const first = last - all.length + 1;
    for (let waited = 0; outbox.pendingBetween(first, last) > 0; ) {
      const { claimed, sent } = await drainOnce(outbox, transport, config.relayBatchSize, 15_000, log);
      if (claimed === 0 || sent < claimed) {
        await pause(200);
        waited += 200;
        if (waited % 10_000 === 0) console.error(`still publishing: ${outbox.pendingBetween(first, last)} message(s) waiting for the ${config.transport} transport`);
      }
    }
    console.log(`took ${checked.orders} orders and ${checked.payments} payments${deadLetters.length ? `; dead-lettered ${deadLetters.length} invalid record(s)` : ""}`);
    return 0;
  } finally {
    outbox.releaseLease();
    await transport.close().catch(() => {});
    handle.close();
  }
}
