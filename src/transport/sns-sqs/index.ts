// The SNS+SQS transport, and what tests and benches use of it.
export { createSnsSqsTransport, type SnsSqsOptions } from "./transport.ts";
export type { TransportLogger } from "../types.ts";
