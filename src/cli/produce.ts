// `ecom produce --from-file F|s3://B/K [--skip-invalid] [--archive=s3://B/P/]`: validate every record, then publish.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Config } from "../config/types.ts";
import { whenWritable } from "../db/busy.ts";
import { ConfigError } from "../config/load.ts";
import { openDataDir } from "../runtime.ts";
import { envelope } from "../domain/envelope.ts";
import type { DeadLetterInput } from "../domain/model.ts";
import { deadLetterId, detectType, maskBody, validateRecord } from "../domain/validate.ts";
import { createLogger } from "../log.ts";
import { Counters } from "../inbox/inbox.ts";
import { Outbox } from "../outbox/outbox.ts";
import { drainOnce } from "../outbox/relay.ts";
import { deadLetterMessage } from "../roles/context.ts";
import { createTransport } from "../transport/index.ts";
import type { OutgoingMessage } from "../transport/types.ts";
import { archive, archiveKey, isS3Url, openObject, parseS3Url, s3Client, s3ErrorText, s3Url, type ArchiveSource, type S3Location } from "./s3.ts";
import { progressLine, relayUntilPublished, timeoutMessage } from "./publish-wait.ts";

// How long a claimed outbox batch stays produce's: past it, another relay of the data dir may publish it as well.
const RELAY_LEASE_MS = 15_000;
const TTY_REPORT_MS = 3_000;
// As often as the line produce printed before there was a timeout (a slower cadence would hide a stall longer).
const LOG_REPORT_MS = 10_000;

/** The broker as a person reads it: which transport, and where. */
export function brokerName(config: Readonly<Config>): string {
  if (config.transport === "sns-sqs") return `SNS+SQS at ${config.aws.snsEndpoint ?? `AWS region ${config.aws.region}`}`;
  if (config.transport === "pubsub") return `Pub/Sub ${config.pubsub.emulatorHost ? `emulator at ${config.pubsub.emulatorHost}` : `project ${config.pubsub.projectId}`}`;
  return `the local queue in ${config.dataDir}`;
}

/** 300000 -> "5m", 12000 -> "12s", 1500 -> "1500ms". */
function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export interface FileRecord {
  /** "line 3" (NDJSON) or "index 2" (JSON array). */
  where: string;
  raw: string;
  value?: unknown;
  parseError?: string;
}

const arrayError = (detail: string) => new ConfigError(`--from-file: the file starts with [ but is not a valid JSON array: ${detail}`);
const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9 || c === 0xfeff;

/**
 * Splits a byte stream holding a JSON array or NDJSON into records as the bytes arrive, keeping where each came
 * from: only the record being read is held, so a file of any size streams. An array that is not valid JSON (a
 * broken element, a missing ], text after it) is refused whole, as JSON.parse of the whole file would.
 */
export async function* streamRecords(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<FileRecord> {
  const decoder = new TextDecoder();
  let mode: "unknown" | "ndjson" | "array" = "unknown";
  let buf = "";
  let line = 0;
  // Array scan state: next char to look at, nesting depth (1 = inside the array), string state, element start.
  let pos = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = 0;
  let index = 0;
  let closed = false;

  const lineRecord = (text: string): FileRecord | null => {
    line++;
    if (text.trim() === "") return null;
    try {
      return { where: `line ${line}`, raw: text, value: JSON.parse(text) };
    } catch (error) {
      return { where: `line ${line}`, raw: text, parseError: `not JSON: ${(error as Error).message}` };
    }
  };
  const element = (text: string, last: boolean): FileRecord | null => {
    if (text.trim() === "") {
      if (last && index === 0) return null; // []
      throw arrayError(`no value at index ${index}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw arrayError(`index ${index}: ${(error as Error).message}`);
    }
    return { where: `index ${index++}`, raw: JSON.stringify(value), value };
  };

  function* drain(final: boolean): Generator<FileRecord> {
    if (mode === "unknown") {
      let i = 0;
      while (i < buf.length && isSpace(buf.charCodeAt(i))) i++;
      if (i === buf.length && !final) return;
      mode = buf[i] === "[" ? "array" : "ndjson";
      if (mode === "array") {
        depth = 1;
        pos = start = i + 1;
      }
    }
    if (mode === "ndjson") {
      let from = 0;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n", from)) {
        const r = lineRecord(buf.slice(from, nl));
        from = nl + 1;
        if (r) yield r;
      }
      buf = buf.slice(from);
      if (final && buf !== "") {
        const r = lineRecord(buf);
        buf = "";
        if (r) yield r;
      }
      return;
    }
    for (; pos < buf.length; pos++) {
      const c = buf.charCodeAt(pos);
      if (closed) {
        if (!isSpace(c)) throw arrayError(`unexpected ${JSON.stringify(buf[pos])} after the closing ]`);
      } else if (inString) {
        if (escaped) escaped = false;
        else if (c === 92) escaped = true;
        else if (c === 34) inString = false;
      } else if (c === 34) inString = true;
      else if (c === 91 || c === 123) depth++;
      else if (c === 93 || c === 125) {
        if (depth > 1) depth--;
        else if (c === 125) throw arrayError(`unexpected } at index ${index}`);
        else {
          closed = true;
          const r = element(buf.slice(start, pos), true);
          if (r) yield r;
        }
      } else if (c === 44 && depth === 1) {
        const r = element(buf.slice(start, pos), false);
        start = pos + 1;
        if (r) yield r;
      }
    }
    // Keep only the element being read.
    const keep = closed ? pos : start;
    buf = buf.slice(keep);
    pos -= keep;
    start -= keep;
    if (final && !closed) throw arrayError("the file ends before the array's closing ]");
  }

  for await (const chunk of chunks) {
    buf += decoder.decode(chunk, { stream: true });
    yield* drain(false);
  }
  buf += decoder.decode();
  yield* drain(true);
}

export interface Problem {
  where: string;
  reason: "malformed" | "invalid";
  errors: string[];
  type: string | null;
  key: string | null;
  raw: string;
}

export interface Checked {
  messages: OutgoingMessage[];
  orders: number;
  payments: number;
  problems: Problem[];
}

export const emptyChecked = (): Checked => ({ messages: [], orders: 0, payments: 0, problems: [] });

/** Validates one record into `checked`: a valid one becomes an outbox message, an invalid one a problem. */
export function checkRecord(r: FileRecord, now: Date | string, checked: Checked): void {
  if (r.parseError) {
    checked.problems.push({ where: r.where, reason: "malformed", errors: [r.parseError], type: null, key: null, raw: r.raw });
    return;
  }
  const value = r.value;
  const type = value && typeof value === "object" && !Array.isArray(value) ? detectType(value as Record<string, unknown>) : null;
  if (!type) {
    checked.problems.push({ where: r.where, reason: "invalid", errors: ["neither an order (order_id) nor a payment (payment_id)"], type: null, key: null, raw: r.raw });
    return;
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
    return;
  }
  const data = result.data as { order_id: number; payment_id?: number };
  const env = envelope(type, data, now);
  checked.messages.push({ id: env.id, topic: type === "order" ? "orders" : "payments", body: JSON.stringify(env), orderingKey: String(data.order_id) });
  if (type === "order") checked.orders++;
  else checked.payments++;
}

/**
 * Reads and validates the whole input (a local path or s3://bucket/key) as a stream, hashing its bytes. What is kept
 * is one outbox message per valid record and the problems: never the file itself.
 */
async function readInput(file: string, now: Date, s3: () => S3Client) {
  const hash = createHash("sha256");
  let bytes = 0;
  const source = isS3Url(file) ? parseS3Url(file, "--from-file") : null;
  const object = source ? await openObject(s3(), source) : null;
  async function* reading(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    } catch (error) {
      // Only the source's own failures land here: a consumer's error ends this generator without entering catch.
      if (source) throw new Error(`--from-file: cannot read ${file}: ${s3ErrorText(error)}`, { cause: error });
      throw new ConfigError(`--from-file: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  const checked = emptyChecked();
  // One produced_at for the whole file, formatted once.
  const producedAt = now.toISOString();
  for await (const r of streamRecords(reading(object ? object.chunks : createReadStream(file)))) checkRecord(r, producedAt, checked);
  return { checked, source, etag: object?.etag, sha256: hash.digest("hex"), bytes };
}

export async function produceFromFile(config: Readonly<Config>, options: Record<string, string | boolean | undefined>): Promise<number> {
  const file = options["from-file"];
  if (typeof file !== "string") throw new ConfigError("produce needs --from-file F (a JSON array or NDJSON of orders and payments, a path or s3://bucket/key)");
  const archiveTo = options.archive === undefined ? null : parseS3Url(String(options.archive), "--archive");
  let client: S3Client | null = null;
  const s3 = () => (client ??= s3Client(config.aws));
  const now = new Date();
  try {
    const input = await readInput(file, now, s3);
    return await publish(config, options, file, now, input, archiveTo, s3);
  } finally {
    (client as S3Client | null)?.destroy();
  }
}

async function publish(
  config: Readonly<Config>,
  options: Record<string, string | boolean | undefined>,
  file: string,
  now: Date,
  input: Awaited<ReturnType<typeof readInput>>,
  archiveTo: S3Location | null,
  s3: () => S3Client,
): Promise<number> {
  const { checked } = input;
  for (const p of checked.problems) console.error(`${file}: ${p.where}: ${p.reason}: ${p.errors.join("; ")}`);
  if (checked.problems.length && !options["skip-invalid"]) {
    console.error(`${checked.problems.length} invalid record(s); nothing was published (use --skip-invalid to publish the valid ones and dead-letter the rest)`);
    return 1;
  }
  if (archiveTo) {
    // Kept before anything is published: a failed archive publishes nothing.
    const at = { bucket: archiveTo.bucket, key: archiveKey(archiveTo.key, input.sha256, now, input.source?.key ?? file) };
    const from: ArchiveSource = input.source ? { kind: "s3", at: input.source, etag: input.etag } : { kind: "file", path: file };
    const result = await archive(s3(), at, from, { source: file, sha256: input.sha256, "ingested-at": now.toISOString() });
    console.log(result === "exists" ? `archive ${s3Url(at)} exists (same sha256): not uploaded again` : `archived ${input.bytes} bytes to ${s3Url(at)}`);
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
    await whenWritable(() => handle.db.transaction((tx) => {
      outbox.add(all, tx);
      last = outbox.lastSeq();
      counters.add("producer", { orders: checked.orders, payments: checked.payments, invalid: deadLetters.length, dead_lettered: deadLetters.length }, tx);
    }, { behavior: "immediate" }));
    // Relay until our rows are confirmed; an interruption or the timeout leaves them in the outbox for any ecom process.
    const first = last - all.length + 1;
    const broker = brokerName(config);
    const tty = process.stderr.isTTY === true;
    const { published, lastError } = await relayUntilPublished(
      {
        pending: () => outbox.pendingBetween(first, last),
        lastError: () => outbox.lastErrorBetween(first, last),
        relayedElsewhere: () => outbox.leasedElsewhere(),
        drain: (signal) => drainOnce(outbox, transport, config.relayBatchSize, RELAY_LEASE_MS, log, signal),
        report: (p) => {
          if (tty) console.error(progressLine(p, broker));
          else log.warn({ pending: p.pending, total: p.total, waited_s: Math.round(p.elapsedMs / 1000), broker, relayed_elsewhere: p.relayedElsewhere, last_error: p.lastError }, "produce: records not yet published");
        },
      },
      { total: all.length, timeoutMs: config.producer.publishTimeoutMs, reportEveryMs: tty ? TTY_REPORT_MS : LOG_REPORT_MS },
    );
    if (!published) {
      const byTopic = outbox.pendingByTopic(first, last);
      const kinds = [["orders", "order"], ["payments", "payment"], ["deadletters", "dead letter"]] as const;
      const byKind = kinds.filter(([t]) => byTopic[t]).map(([t, word]) => `${byTopic[t]!.toLocaleString("en-US")} ${word}${byTopic[t] === 1 ? "" : "s"}`).join(", ");
      const pending = outbox.pendingBetween(first, last);
      const timeout = formatDuration(config.producer.publishTimeoutMs);
      console.error(timeoutMessage({ pending, total: all.length, byKind, broker, dataDir: config.dataDir, timeout, lastError }));
      return 1;
    }
    console.log(`took ${checked.orders} orders and ${checked.payments} payments${deadLetters.length ? `; dead-lettered ${deadLetters.length} invalid record(s)` : ""}`);
    return 0;
  } finally {
    // Waits out another process's lock like every write; a lease not released lapses by itself, so it fails nothing.
    await whenWritable(() => outbox.releaseLease()).catch(() => {});
    await transport.close().catch(() => {});
    handle.close();
  }
}
