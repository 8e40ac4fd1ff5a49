// Builds the wire envelope of SPEC §1.
import { randomUUID } from "node:crypto";
import type { Envelope } from "./validate.ts";

export const ENVELOPE_VERSION = 1;

export function envelope<T>(type: Envelope["type"], data: T, now: Date, id: string = randomUUID()): Envelope<T> {
  return { id, type, version: ENVELOPE_VERSION, produced_at: now.toISOString(), data };
}
