// Acks (DeleteMessageBatch), retries and leases (ChangeMessageVisibilityBatch) of received SQS messages.
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand } from "@aws-sdk/client-sqs";
import { chunk } from "../../util/limit.ts";
import type { Delivery, Outcome } from "../types.ts";
import type { Clients } from "./clients.ts";
import { wrap } from "./errors.ts";

const SQS_BATCH_ENTRIES = 10;
const SQS_MAX_VISIBILITY_SECONDS = 43_200;

/** A received message this process holds until it is acked or made visible again. */
export interface Held {
  queueUrl: string;
  receiptHandle: string;
  delivery: Delivery;
  settling: boolean;
}

type BatchAnswer = { Failed?: { Id?: string; Code?: string; Message?: string }[] };

/** Sends one SQS *Batch call per 10 entries, logging (not throwing) failed entries. */
async function sqsBatches(
  c: Clients,
  what: string,
  held: Held[],
  send: (queueUrl: string, entries: { id: string; h: Held }[]) => Promise<BatchAnswer>,
  confirmed?: (queueUrl: string, count: number) => void,
): Promise<void> {
  const byQueue = new Map<string, Held[]>();
  for (const h of held) byQueue.set(h.queueUrl, [...(byQueue.get(h.queueUrl) ?? []), h]);
  const calls: Promise<void>[] = [];
  for (const [url, list] of byQueue) {
    for (const part of chunk(list, SQS_BATCH_ENTRIES)) {
      const entries = part.map((h, i) => ({ id: String(i), h }));
      calls.push(
        send(url, entries).then(
          (answer) => {
            for (const f of answer.Failed ?? []) {
              const messageId = entries[Number(f.Id)]?.h.delivery.messageId;
              c.log.warn({ queueUrl: url, code: f.Code, error: f.Message, messageId }, `sqs ${what}: entry failed`);
            }
            confirmed?.(url, entries.length - (answer.Failed?.length ?? 0));
          },
          (error) => {
            const wrapped = wrap(error, `SQS ${what}`, part.map((h) => h.delivery.messageId));
            c.log.warn({ queueUrl: url, error: wrapped.message, retryable: wrapped.retryable }, `sqs ${what} failed`);
          },
        ),
      );
    }
  }
  await Promise.all(calls);
}

/** Acks: deletes the messages; `deleted` hears how many each queue confirmed. */
export function deleteMessages(c: Clients, held: Held[], deleted: (url: string, count: number) => void): Promise<void> {
  return sqsBatches(
    c,
    "DeleteMessageBatch",
    held,
    (url, entries) => {
      const list = entries.map(({ id, h }) => ({ Id: id, ReceiptHandle: h.receiptHandle }));
      return c.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: list }));
    },
    deleted,
  );
}

/** Hides the messages for `seconds(h)` more (a lease extension), or shows them again at once with 0 (a retry). */
export function changeVisibility(c: Clients, held: Held[], seconds: (h: Held) => number): Promise<void> {
  return sqsBatches(c, "ChangeMessageVisibilityBatch", held, (url, entries) =>
    c.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: entries.map(({ id, h }) => ({
          Id: id,
          ReceiptHandle: h.receiptHandle,
          VisibilityTimeout: seconds(h),
        })),
      }),
    ),
  );
}

/** A retry's delay as a visibility timeout: SQS has no per-message redelivery delay beyond hiding it. */
export function retrySeconds(outcome: Outcome): number {
  if (outcome.kind !== "retry" || !outcome.delayMs) return 0;
  return Math.min(SQS_MAX_VISIBILITY_SECONDS, Math.ceil(outcome.delayMs / 1000));
}
