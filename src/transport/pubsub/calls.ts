// The Pub/Sub client and how long its calls may take: timeouts, retry delays and reconnect back-off, all bounded.
import { PubSub, type CallOptions, type ClientConfig } from "@google-cloud/pubsub";
import type { PubsubConfig } from "../../config/types.ts";

/**
 * Bounds a publish including the client's own retries (its default is 10 minutes): while the broker is away a
 * publish settles as a retryable failure within this, and the relay retries it (rather than one call hanging).
 */
export const PUBLISH_TIMEOUT_MS = 15_000;
/**
 * The client's retry delays (google-gax): its defaults grow x4 (Publish) or x1.3 (Acknowledge, ModifyAckDeadline) up
 * to 60 s, and the total timeout is checked only after a delay has run, so a call begun during an outage could sleep
 * far past its timeout and past the broker's return (measured through a cut proxy: a publish begun at the cut settled
 * 16-65 s later, up to 45 s after the broker was back, holding the relay). Capped, a call settles within its budget
 * plus one RETRY_DELAY_MAX_MS (measured: 15.2-15.9 s).
 */
export const RETRY_DELAY_MAX_MS = 1_000;
/** Topic and subscription administration (provision, teardown, metadata). */
export const ADMIN_TIMEOUT_MS = 30_000;
/**
 * gRPC channel reconnect backoff (grpc-js defaults: 1 s growing x1.6 up to 120 s, so after a 20 s outage the next
 * attempt could be 10+ s away). Capped so publish and streaming pull come back within ~2 s of the broker.
 */
const RECONNECT_INITIAL_MS = 250;
const RECONNECT_MAX_MS = 2_000;

/** Call options bounding a unary call and its retries to `budgetMs`, with delays of at most RETRY_DELAY_MAX_MS. */
export function boundedCall(budgetMs: number): CallOptions {
  return {
    timeout: budgetMs,
    retry: {
      backoffSettings: {
        initialRetryDelayMillis: 100,
        retryDelayMultiplier: 2,
        maxRetryDelayMillis: RETRY_DELAY_MAX_MS,
        initialRpcTimeoutMillis: budgetMs,
        rpcTimeoutMultiplier: 1,
        maxRpcTimeoutMillis: budgetMs,
        totalTimeoutMillis: budgetMs,
      },
    },
  };
}

/**
 * The budget of an ack or lease-extension call. The client measures how long a lease extension takes, retries
 * included, and schedules the next one (0.9 x ack deadline - the 99th percentile of that latency) x random later. A
 * call that waited out an outage (the client's default budget is 60 s) made that negative (measured: latency 22.1 s,
 * next extension -13.1 s with a 10 s deadline; Node clamps it to 1 ms and warns TimeoutNegativeWarning, seen in the
 * outage test), so extensions ran back to back until the slow sample left the percentile. Half the ack deadline, plus
 * one retry delay and the 100 ms batching, stays below 0.9 x the deadline (measured: at most 6.1 s with 10 s); an ack
 * that fails within it is lost and the message comes back (the inbox dedupes), as before.
 */
export function ackCallBudgetMs(ackDeadlineSeconds: number): number {
  return Math.min(60_000, Math.floor((ackDeadlineSeconds * 1000) / 2));
}

export function createClient(config: PubsubConfig): PubSub {
  const clientOptions: ClientConfig = {
    projectId: config.projectId,
    // Passed through to the gRPC channels (gax forwards `grpc.*` keys).
    "grpc.initial_reconnect_backoff_ms": RECONNECT_INITIAL_MS,
    "grpc.max_reconnect_backoff_ms": RECONNECT_MAX_MS,
  } as ClientConfig;
  // The configured emulator wins over PUBSUB_EMULATOR_HOST (the client reads that only without apiEndpoint).
  // A fixed universeDomain stops google-auth from probing the GCE metadata server for credentials the emulator ignores.
  if (config.emulatorHost) {
    const emulator = { apiEndpoint: config.emulatorHost, emulatorMode: true, universeDomain: "googleapis.com" };
    Object.assign(clientOptions, emulator);
  }
  return new PubSub(clientOptions);
}
