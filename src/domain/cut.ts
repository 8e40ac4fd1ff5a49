// Cutting a dead letter's original to fit a size limit, saying what was kept of what, with the whole one's sha256.
import { createHash } from "node:crypto";
import type { DeadLetterInput } from "./model.ts";

/**
 * `input` as it is when `size(input) <= maxBytes`; otherwise with its original cut to fit and a detail giving the kept
 * and whole sizes and the whole original's sha256 (`limit` names what it must fit, e.g. "the broker's 262144-byte
 * message limit"): the longest prefix that fits, never ending on the first half of a surrogate pair (empty at worst).
 */
export function fitOriginal(input: DeadLetterInput, size: (d: DeadLetterInput) => number, maxBytes: number, limit: string): DeadLetterInput {
  if (size(input) <= maxBytes) return input;
  const bytes = Buffer.byteLength(input.original);
  const hash = createHash("sha256").update(input.original).digest("hex");
  const cutAt = (keep: number): DeadLetterInput => {
    // Never end on the first half of a surrogate pair.
    const last = keep > 0 ? input.original.charCodeAt(keep - 1) : 0;
    const original = input.original.slice(0, last >= 0xd800 && last <= 0xdbff ? keep - 1 : keep);
    const note = `original cut to its first ${Buffer.byteLength(original)} of ${bytes} bytes to fit ${limit}; sha256 of the whole: ${hash}`;
    return { ...input, original, details: [...(Array.isArray(input.details) ? input.details : [input.details]), note] };
  };
  // The longest prefix that fits, by bisection on characters (their bytes vary: UTF-8, escapes inside an envelope).
  let [lo, hi] = [0, input.original.length];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (size(cutAt(mid)) <= maxBytes) lo = mid;
    else hi = mid;
  }
  return cutAt(lo);
}
