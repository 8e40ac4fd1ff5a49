// Structured JSON logs (pino), with card fields redacted as a second line of defence.
import pino from "pino";

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
