// SDK client settings every AWS backend shares: bounded connects and requests, and enough sockets.

const CONNECT_TIMEOUT_MS = 3_000;

/** Settings for an SDK v3 client (SNSClient, SQSClient, DynamoDBClient, ...): spread them into its constructor. */
export function awsClientConfig(options: { region: string; maxAttempts: number; requestTimeoutMs: number }) {
  return {
    region: options.region,
    maxAttempts: options.maxAttempts,
    requestHandler: {
      // Long polls, publishes and acks run side by side: allow more sockets than the SDK default.
      httpAgent: { keepAlive: true, maxSockets: 256 },
      httpsAgent: { keepAlive: true, maxSockets: 256 },
      // No call may hang on a server that went away without closing the connection (the SDK waits forever by
      // default): a connect or a whole request past these fails as a retryable TimeoutError, and the caller's loop
      // tries again.
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}
