// The Pub/Sub transport, and what tests and benches use of it.
export { createPubsubTransport, type PubsubOptions } from "./transport.ts";
export { ackCallBudgetMs, boundedCall, PUBLISH_TIMEOUT_MS, RETRY_DELAY_MAX_MS } from "./calls.ts";
export { briefGrpcText, isRetryablePubsubError } from "./errors.ts";
export type { TransportLogger } from "../types.ts";
