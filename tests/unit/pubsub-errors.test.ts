// Pub/Sub error text as ecom shows it: one reason, without grpc-js's notes or gax's repeats of every earlier try.
import { expect, test } from "bun:test";
import { briefGrpcText } from "../../src/transport/pubsub/index.ts";

test("a call retried until its timeout: the last error alone, without the resolution note and the earlier tries", () => {
  const tries = Array(20).fill("{message: 14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:8099. Resolution note: , code: 14}").join(", ");
  const text = `Total timeout of API google.pubsub.v1.Publisher exceeded 30000 milliseconds retrying error Error: 14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:8099. Resolution note:   before any response was received. : Previous errors : [${tries}]`;
  expect(briefGrpcText(text)).toBe("14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:8099");
});

test("a plain details string is kept; a long one is cut at 300 characters", () => {
  expect(briefGrpcText("Resource not found (resource=t1).")).toBe("Resource not found (resource=t1).");
  expect(briefGrpcText("x".repeat(400))).toBe(`${"x".repeat(300)}...`);
});
