// Structured JSON logs (pino), with card fields redacted as a second line of defence.
import { tracingChannel } from "node:diagnostics_channel";
import pino from "pino";

// Bun's TracingChannel lacks Node's `hasSubscribers` getter (oven-sh/bun#27805), so pino, which skips tracing only
// when it reads `false`, traced every log line: ~3% of the pipeline's CPU. Add the getter with Node's meaning.
const tracingProto = Object.getPrototypeOf(tracingChannel("ecom:probe")) as object;
if (!("hasSubscribers" in tracingProto)) {
  Object.defineProperty(tracingProto, "hasSubscribers", {
    get(this: Record<"start" | "end" | "asyncStart" | "asyncEnd" | "error", { hasSubscribers: boolean }>) {
      return this.start.hasSubscribers || this.end.hasSubscribers || this.asyncStart.hasSubscribers || this.asyncEnd.hasSubscribers || this.error.hasSubscribers;
    },
  });
}

export type Logger = pino.Logger;

export function createLogger(level: string, destination: pino.DestinationStream | number = 1): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ["card_number", "*.card_number", "*.*.card_number", "password", "*.password", "authorization", "*.authorization", "admin_token"],
        censor: "[redacted]",
      },
    },
    typeof destination === "number" ? pino.destination({ fd: destination, sync: false }) : destination,
  );
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = pino({ level: "silent" });
