// `ecom lambda` (or any start with AWS_LAMBDA_RUNTIME_API set): the binary as a Lambda custom runtime for SQS batches.
import { ConfigError, loadConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { Lease } from "../db/lease.ts";
import { createLogger, type Logger } from "../log.ts";
import { reconcileOnce, RECONCILE_LEASE_MS } from "../roles/dlq.ts";
import type { RoleContext } from "../roles/context.ts";
import { openBase, type Base } from "../runtime.ts";
import type { SubscriptionName } from "../transport/types.ts";
import { SqsBatchHandler } from "./batch.ts";
import { RuntimeApi, RuntimeApiError, type Invocation } from "./runtime-api.ts";
import { EventError, sqsRecords, toDeliveries } from "./sqs-event.ts";

/** A Lambda instance's only writable disk; its data dir unless --data-dir / ECOM_DATA_DIR says otherwise. */
export const LAMBDA_DATA_DIR = "/tmp/ecom";
const LAMBDA_ROLES: readonly SubscriptionName[] = ["order", "payment", "analytics", "dlq"];
/** A reconciliation pass is started only while this much time is left before the deadline. */
const RECONCILE_RESERVE_MS = 3000;

/** The one consumer role a function serves, checked with the settings it needs. */
export function lambdaRole(config: Readonly<Config>): SubscriptionName {
  const roles = config.roles;
  if (roles.length !== 1 || !LAMBDA_ROLES.includes(roles[0] as SubscriptionName)) {
    const accepted = LAMBDA_ROLES.join(", ");
    const got = roles.join(",");
    throw new ConfigError(`ecom lambda serves one role: --role (ECOM_ROLE) must be one of ${accepted}; got ${got}`);
  }
  const role = roles[0] as SubscriptionName;
  if (config.transport !== "sns-sqs") {
    throw new ConfigError(
      "ecom lambda publishes dead letters and alerts to SNS before it answers: --transport (ECOM_TRANSPORT) must be " +
        `sns-sqs; got ${config.transport} (the local queue would live in the instance's ephemeral /tmp)`,
    );
  }
  if (role !== "analytics" && config.store === "sqlite") {
    throw new ConfigError(
      `ecom lambda --role=${role} needs a store that outlives the instance: --store (ECOM_STORE) must not be sqlite ` +
        "(it would live in the instance's ephemeral /tmp)",
    );
  }
  return role;
}

interface LambdaFunction {
  invoke(invocation: Invocation): Promise<unknown>;
}

async function startFunction(config: Readonly<Config>, log: Logger): Promise<{ base: Base; fn: LambdaFunction }> {
  const role = lambdaRole(config);
  const base = await openBase(config, log, { relay: false });
  const batches = new SqsBatchHandler(base.ctx, role, { storeWaitMs: config.lambda.storeWaitMs });
  const lease = new Lease(base.ctx.handle, "reconciler");
  const fn: LambdaFunction = {
    async invoke({ body, deadlineMs }) {
      let event: unknown;
      try {
        event = JSON.parse(body);
      } catch {
        throw new EventError("the event is not JSON");
      }
      const records = sqsRecords(event);
      if (records === null) {
        // A scheduled event (EventBridge) keeps unmatched payments retried when no dead letter arrives.
        if (role === "dlq") return { reconciled: await reconcileUntil(base.ctx, lease, deadlineMs) };
        const got = describe(event);
        throw new EventError(`ecom lambda --role=${role} takes SQS events (an object with Records); got ${got}`);
      }
      const result = await batches.handle(toDeliveries(records, role, config.aws), deadlineMs);
      if (role === "dlq") await reconcileUntil(base.ctx, lease, deadlineMs, 1);
      log.debug({ role, records: records.length, failed: result.batchItemFailures.length }, "lambda: batch answered");
      return result;
    },
  };
  return { base, fn };
}

/** Reconciliation passes (at most `passes`) while time is left; a failing pass is logged, never fails anything. */
async function reconcileUntil(ctx: RoleContext, lease: Lease, deadlineMs: number, passes = Infinity): Promise<number> {
  let total = 0;
  for (let i = 0; i < passes && Date.now() < deadlineMs - RECONCILE_RESERVE_MS; i++) {
    try {
      if (!lease.hold(RECONCILE_LEASE_MS)) break;
      const n = await reconcileOnce(ctx, 500, lease);
      total += n;
      if (n === 0) break;
    } catch (error) {
      ctx.log.warn({ role: "dlq", err: (error as Error).message }, "lambda: reconciliation pass failed");
      break;
    }
  }
  return total;
}

function describe(event: unknown): string {
  if (event === null) return "null";
  if (Array.isArray(event)) return "an array";
  if (typeof event !== "object") return typeof event;
  return `an object with keys ${Object.keys(event).slice(0, 5).join(", ") || "(none)"}`;
}

const errorType = (error: unknown, fallback: string) =>
  error instanceof ConfigError ? "Runtime.ConfigError"
    : error instanceof EventError ? "Runtime.UnsupportedEvent"
    : fallback;

const errorBody = (error: unknown, fallback: string) => ({
  errorType: errorType(error, fallback),
  errorMessage: (error as Error).message ?? String(error),
});

/** Serves invocations until the Runtime API goes away. Resolves to the exit code. */
export async function runLambda(
  flags: Record<string, unknown>,
  env: Record<string, string | undefined>,
): Promise<number> {
  const address = env.AWS_LAMBDA_RUNTIME_API;
  if (!address) {
    throw new ConfigError(
      "ecom lambda runs under AWS Lambda or its Runtime Interface Emulator, which set AWS_LAMBDA_RUNTIME_API " +
        "(host:port); it is not set",
    );
  }
  const api = new RuntimeApi(address);
  let log: Logger = createLogger("info");
  let started: Awaited<ReturnType<typeof startFunction>>;
  try {
    const config = loadConfig({ flags, env: { ECOM_DATA_DIR: LAMBDA_DATA_DIR, ...env } });
    log = createLogger(config.logLevel);
    started = await startFunction(config, log);
  } catch (error) {
    // Lambda shows this as the init error of every invocation until the function is fixed.
    const body = errorBody(error, "Runtime.InitError");
    console.error(`ecom: ${body.errorMessage}`);
    await api.initError(body).catch((e) => console.error(`ecom: ${(e as Error).message}`));
    return error instanceof ConfigError ? 2 : 1;
  }
  log.info({ runtime_api: address }, "ecom lambda ready");
  for (;;) {
    let invocation: Invocation;
    try {
      invocation = await api.next();
    } catch (error) {
      log.error({ err: (error as Error).message }, "lambda: Runtime API unavailable; exiting");
      await started.base.close().catch(() => {});
      return 1;
    }
    let result: unknown;
    try {
      result = await started.fn.invoke(invocation);
    } catch (error) {
      log.error({ err: (error as Error).message, request_id: invocation.requestId }, "lambda: invocation failed");
      await api
        .fail(invocation.requestId, errorBody(error, "Runtime.HandlerError"))
        .catch((e) => log.error({ err: (e as Error).message }, "lambda: could not report the error"));
      continue;
    }
    await api
      .respond(invocation.requestId, result)
      .catch((e: RuntimeApiError) => {
        log.error({ err: e.message, request_id: invocation.requestId }, "lambda: could not post the response");
      });
  }
}
