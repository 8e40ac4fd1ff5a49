// Builds the wire envelope of SPEC §1.
import { randomUUID } from "node:crypto";
import type { Envelope } from "./validate.ts";

export const ENVELOPE_VERSION = 1;

/** `now` as a Date, or already as its ISO string (a batch formats it once). */
export function envelope<T>(type: Envelope["type"], data: T, now: Date | string, id: string = randomUUID()): Envelope<T> {
  return { id, type, version: ENVELOPE_VERSION, produced_at: typeof now === "string" ? now : now.toISOString(), data };
}
