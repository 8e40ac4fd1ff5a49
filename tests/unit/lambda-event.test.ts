// SQS events as Lambda sends them → the deliveries the role handlers take; and the deployment zip's format.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventError, sqsRecords, toDeliveries } from "../../src/lambda/sqs-event.ts";
import { zip } from "../../scripts/zip.ts";

const aws = { queues: { order: "order_processing_queue", analytics: "analytics_queue", payment: "payment_processing_queue", dlq: "dlq_queue" } };
const arn = (queue: string) => `arn:aws:sqs:us-east-1:123456789012:${queue}`;
const record = (over: Record<string, unknown> = {}) => ({
  messageId: "m-1", receiptHandle: "r", body: '{"order_id":1}', attributes: { ApproximateReceiveCount: "3" },
  messageAttributes: { reason: { stringValue: "invalid", dataType: "String" } }, eventSource: "aws:sqs", eventSourceARN: arn("order_processing_queue"), ...over,
});

describe("SQS events", () => {
  test("a record becomes a delivery: body as received, receive count as the attempt, string attributes", () => {
    const [d] = toDeliveries(sqsRecords({ Records: [record()] })!, "order", aws);
    expect(d).toEqual({ messageId: "m-1", body: '{"order_id":1}', attributes: { reason: "invalid" }, attempt: 3 });
  });

  test("for the dlq role, a record from a redrive DLQ carries the subscription it failed on; from dlq_queue none", () => {
    const records = sqsRecords({ Records: [record({ eventSourceARN: arn("payment_processing_queue_dlq") }), record({ messageId: "m-2", eventSourceARN: arn("dlq_queue") })] })!;
    expect(toDeliveries(records, "dlq", aws).map((d) => d.deadLetterSource)).toEqual(["payment", undefined]);
    expect(toDeliveries(records, "order", aws).map((d) => d.deadLetterSource)).toEqual([undefined, undefined]);
  });

  test("a record without a body is kept (the role dead-letters it); no receive count is attempt 1", () => {
    const [d] = toDeliveries(sqsRecords({ Records: [{ messageId: "m-3", eventSource: "aws:sqs" }] })!, "order", aws);
    expect(d).toEqual({ messageId: "m-3", body: "", attributes: {}, attempt: 1 });
  });

  test("an event without Records is not a batch; records that are not SQS, or have no id, fail the event", () => {
    expect(sqsRecords({ source: "aws.events" })).toBeNull();
    expect(() => sqsRecords({ Records: {} })).toThrow(new EventError("Records is not an array"));
    expect(() => sqsRecords({ Records: [record({ eventSource: "aws:sns" })] })).toThrow(new EventError('Records[0].eventSource is "aws:sns"; ecom lambda takes SQS events (aws:sqs)'));
    expect(() => sqsRecords({ Records: [record(), record({ messageId: "" })] })).toThrow(new EventError("Records[1] has no messageId"));
  });
});

describe("deployment zip", () => {
  test("Python's zipfile reads it back whole, with the executable mode", () => {
    const dir = mkdtempSync(join(tmpdir(), "ecom-zip-"));
    const data = Buffer.from("#!/bin/sh\necho hello\n".repeat(1000));
    const path = join(dir, "fn.zip");
    writeFileSync(path, zip([{ name: "bootstrap", data, mode: 0o755 }, { name: "README", data: Buffer.from("x"), mode: 0o644 }]));
    const check = Bun.spawnSync(["python3", "-c", `
import zipfile, sys
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist(): print(i.filename, oct(i.external_attr >> 16), i.file_size, i.compress_type, len(z.read(i)))
`, path]);
    expect(check.stderr.toString()).toBe("");
    expect(check.stdout.toString().trim().split("\n")).toEqual([`bootstrap 0o100755 ${data.length} 8 ${data.length}`, "README 0o100644 1 8 1"]);
  });
});
