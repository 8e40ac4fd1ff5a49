// What every broker transport does around a role's batch handler: exactly one outcome per delivery, never a throw.
import type { BatchHandler, Delivery, Outcome, SubscriptionName, TransportLogger } from "./types.ts";

/**
 * Calls the handler; a missing outcome is a retry, and a handler that throws has its whole batch retried (the port
 * says a handler should not throw; a transport must survive one that does).
 */
export async function callHandler(
  handler: BatchHandler,
  deliveries: Delivery[],
  subscription: SubscriptionName,
  log: TransportLogger,
): Promise<Outcome[]> {
  try {
    const outcomes = await handler(deliveries);
    if (outcomes.length !== deliveries.length) {
      const counts = { subscription, expected: deliveries.length, got: outcomes.length };
      log.error(counts, "handler returned the wrong number of outcomes; missing ones are retried");
    }
    return deliveries.map((_, i) => outcomes[i] ?? { kind: "retry" });
  } catch (error) {
    log.error({ subscription, error: String(error), count: deliveries.length }, "handler threw; retrying its batch");
    return deliveries.map(() => ({ kind: "retry" }));
  }
}
