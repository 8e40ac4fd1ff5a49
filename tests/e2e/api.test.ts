// The HTTP API of SPEC §5 against the compiled binary: shapes, filters and errors, auth, limits, graceful shutdown.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { openDb, type DbHandle } from "../../src/db/open.ts";
import type { Order, Payment } from "../../src/domain/model.ts";
import { createLocalTransport, localQueueDepth } from "../../src/transport/local.ts";
import type { TopicName, Transport } from "../../src/transport/types.ts";
import { expectedRun } from "../helpers/expected.ts";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { verifyFinal, waitForCompletion } from "../helpers/verify.ts";
import { waitFor } from "../helpers/wait.ts";

const ALL_ROLES = ["producer", "order", "payment", "analytics", "dlq"];
const BASE = ["received", "processed", "duplicates", "invalid", "dead_lettered", "failed"];
const COUNTER_KEYS: Record<string, string[]> = {
  producer: [...BASE, "orders", "payments"],
  order: BASE,
  payment: [...BASE, "matched", "unmatched", "duplicate_charges"],
  analytics: [...BASE, "alerts"],
  dlq: [...BASE, "reconciled", "pending", "replayed"],
};

let nextId = 1;
const order = (overrides: Partial<Order> = {}): Order => {
  const id = nextId++;
  return { order_id: id, customer_id: 5, item: "Speaker", quantity: 1, price: 119, shipping_address: `${id} Lake View, Fairview`, order_status: "pending", creation_date: "2026-03-01T10:00:00.000Z", ...overrides };
};
const payment = (orderId: number): Payment => {
  const id = nextId++;
  return { payment_id: id, order_id: orderId, payment_method: "debit_card", card_last_four: "1881", payment_status: "completed", payment_datetime: "2026-03-01T10:00:05.000Z" };
};
const envelope = (type: string, data: unknown) => JSON.stringify({ id: randomUUID(), type, version: 1, produced_at: new Date().toISOString(), data });

/** A test-side handle on an instance's data dir: publish raw bodies into its local queue, wait until idle. */
async function injector(dir: string, consumed: string[]) {
  const handle: DbHandle = await openDb(dir);
  const queue: Transport = createLocalTransport(handle, { maxAttempts: 5, visibilityTimeoutMs: 30_000 });
  return {
    async publish(topic: TopicName, ...bodies: string[]) {
      expect((await queue.publish(bodies.map((body) => ({ id: `test-${randomUUID()}`, topic, body })))).failed).toEqual([]);
    },
    /** No delivery waiting for a running consumer, no outbox row unsent. */
    idle: () =>
      waitFor("the pipeline idle", () => {
        const depth = localQueueDepth(handle);
        return consumed.every((s) => !depth[s]) && handle.prepare("SELECT count(*) AS n FROM outbox").get<{ n: number }>()!.n === 0;
      }, { timeoutMs: 30_000 }),
    async close() {
      await queue.close();
      handle.close();
    },
  };
}

async function errorOf(res: Response | Promise<Response>): Promise<[number, unknown]> {
  const r = await res;
  return [r.status, await r.json()];
}

describe("the API of a running instance (all roles, embedded defaults)", () => {
  let app: Running;
  let inject: Awaited<ReturnType<typeof injector>>;

  beforeAll(async () => {
    const dir = tempDir();
    // A producer with nothing to produce; unmatched payments are retried only in an hour (they stay pending).
    app = await startEcom(["--role=all", "--orders=0", "--payments=0", `--data-dir=${dir}`, "--dlq-retry-base=1h", "--dlq-retry-max=1h"]);
    inject = await injector(dir, ["order", "analytics", "payment", "dlq"]);
  }, 60_000);

  afterAll(async () => {
    await inject?.close();
    if (app) {
      expect(await app.stop()).toBe(0);
      app.proc.kill("SIGKILL");
    }
  });

  test("GET /status: version, roles, transport, store, uptime, every role's counters, outbox", async () => {
    const status = await app.get("/status");
    expect(Object.keys(status).sort()).toEqual(["counters", "counters_stale", "outbox", "roles", "store", "transport", "uptime_s", "version"]);
    expect(status.version).toBe((await runEcom(["--version"])).stdout.trim());
    expect(status.roles).toEqual(ALL_ROLES);
    expect([status.transport, status.store]).toEqual(["local", "sqlite"]);
    expect(status.counters_stale).toBeNull();
    expect(Number.isInteger(status.uptime_s) && status.uptime_s >= 0).toBe(true);
    expect(Object.keys(status.counters).sort()).toEqual([...ALL_ROLES].sort());
    for (const role of ALL_ROLES) {
      expect([role, Object.keys(status.counters[role]).sort()]).toEqual([role, [...COUNTER_KEYS[role]!].sort()]);
      for (const value of Object.values(status.counters[role])) expect(value).toBe(0);
    }
    expect(status.outbox).toEqual({ pending: 0, sent: 0 });
  });

  test("GET /analytics: exact aggregates of a known set of orders", async () => {
    const orders = [
      order({ item: "Laptop", quantity: 1, price: 1200, order_status: "pending" }),
      order({ item: "Mouse", quantity: 4, price: 25, order_status: "shipped" }),
      order({ item: "Laptop", quantity: 2, price: 10.5, order_status: "pending" }),
      order({ item: "Cable", quantity: 3, price: 2.5, order_status: "delivered" }),
    ];
    const from = Date.now();
    // One publish: the analytics role takes them in one batch, so they land in one minute.
    await inject.publish("orders", ...orders.map((o) => envelope("order", o)));
    await inject.idle();
    const until = Date.now();
    const a = await app.get("/analytics");
    expect(Object.keys(a).sort()).toEqual(["average_order_value", "orders", "per_minute", "revenue", "status_counts", "top_items"]);
    expect(a.orders).toBe(4);
    expect(a.revenue).toBe(1328.5);
    expect(a.average_order_value).toBe(332.13);
    expect(a.per_minute).toEqual([{ minute: a.per_minute[0]?.minute, orders: 4, revenue: 1328.5 }]);
    expect(a.per_minute[0].minute).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
    const minute = Date.parse(a.per_minute[0].minute);
    expect(minute).toBeGreaterThanOrEqual(Math.floor(from / 60_000) * 60_000);
    expect(minute).toBeLessThanOrEqual(until);
    expect(a.top_items).toEqual([
      { item: "Laptop", orders: 2, quantity: 3, revenue: 1221 },
      { item: "Mouse", orders: 1, quantity: 4, revenue: 100 },
      { item: "Cable", orders: 1, quantity: 3, revenue: 7.5 },
    ]);
    expect(a.status_counts).toEqual({ pending: 2, shipped: 1, delivered: 1 });
    // 1200 x 1 is over the default --large-order-threshold=1000: one alert.
    const c = (await app.get("/status")).counters;
    expect(c.analytics).toMatchObject({ received: 4, processed: 4, alerts: 1 });
    expect(c.order).toMatchObject({ received: 4, processed: 4 });
  }, 60_000);

  test("GET /orders/:order_id: the fact row; 404 JSON when absent; 400 for a non-integer id", async () => {
    const o = order();
    await inject.publish("orders", envelope("order", o));
    await inject.idle();
    expect(await app.get(`/orders/${o.order_id}`)).toEqual({ ...o, payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null });
    expect(await errorOf(app.request("/orders/424242"))).toEqual([404, { error: "not_found", detail: "no order 424242" }]);
    for (const bad of ["abc", "1.5", "-3", "0x10"]) {
      expect(await errorOf(app.request(`/orders/${bad}`))).toEqual([400, { error: "bad_request", detail: `order_id ${bad} is not a non-negative integer` }]);
    }
    for (const big of ["9007199254740992", "99999999999999999999"]) {
      expect(await errorOf(app.request(`/orders/${big}`))).toEqual([400, { error: "bad_request", detail: `order_id ${big} is out of range: at most 9007199254740991` }]);
    }
    expect(await errorOf(app.request("/nope"))).toEqual([404, { error: "not_found", detail: "no route for GET /nope" }]);
  }, 60_000);

  test("GET /customers/:customer_id/orders: that customer's fact rows newest first, paged by limit and cursor; 400s", async () => {
    const customer = 880_001;
    const orders = [3, 1, 4, 2].map((day) => order({ customer_id: customer, creation_date: `2026-04-0${day}T08:00:00.000Z` }));
    const other = order({ customer_id: customer + 1 });
    const paid = payment(orders[1]!.order_id);
    await inject.publish("orders", ...[...orders, other].map((o) => envelope("order", o)));
    await inject.idle();
    await inject.publish("payments", envelope("payment", paid));
    await inject.idle();
    const unpaid = { payment_id: null, payment_method: null, card_last_four: null, payment_status: null, payment_datetime: null };
    const { order_id: _, ...paymentColumns } = paid;
    // Newest first: days 4, 3, 2, 1; the day-1 order carries its payment.
    const expected = [orders[2]!, orders[0]!, orders[3]!, orders[1]!].map((o) => ({ ...o, ...(o === orders[1] ? paymentColumns : unpaid) }));
    expect(await app.get(`/customers/${customer}/orders`)).toEqual({ items: expected, next: null });
    const first = await app.get(`/customers/${customer}/orders?limit=3`);
    expect(first.items).toEqual(expected.slice(0, 3));
    expect(typeof first.next).toBe("string");
    expect(await app.get(`/customers/${customer}/orders?limit=3&cursor=${first.next}`)).toEqual({ items: expected.slice(3), next: null });
    expect(await app.get("/customers/424242/orders")).toEqual({ items: [], next: null });
    expect(await errorOf(app.request("/customers/x1/orders"))).toEqual([400, { error: "bad_request", detail: "customer_id x1 is not a non-negative integer" }]);
    expect(await errorOf(app.request(`/customers/${customer}/orders?limit=0`))).toEqual([400, { error: "bad_request", detail: "limit=0 must be an integer in 1..1000" }]);
    expect(await errorOf(app.request(`/customers/${customer}/orders?cursor=bogus`))).toEqual([400, { error: "bad_request", detail: 'cursor "bogus" is not one this API returned' }]);
  }, 60_000);

  test("a known path with another method: 405 with Allow; long paths and ids are cut to 80 characters in the detail", async () => {
    for (const [method, path, allow] of [["PUT", "/status", "GET"], ["POST", "/orders/1", "GET"], ["GET", "/dlq/replay", null], ["PATCH", "/dlq/x", "GET, DELETE"], ["GET", "/dlq/x/replay", "POST"]] as const) {
      const res = await app.request(path, { method });
      if (allow === null) {
        expect(res.status).toBe(404);
        continue;
      }
      expect([res.status, res.headers.get("allow"), await res.json()]).toEqual([405, allow, { error: "method_not_allowed", detail: `${method} ${path}: allowed ${allow}` }]);
    }
    const long = "z".repeat(5000);
    expect(await errorOf(app.request(`/dlq/${long}`))).toEqual([404, { error: "not_found", detail: `no dead letter ${"z".repeat(80)}...` }]);
    expect(await errorOf(app.request(`/nope/${long}`))).toEqual([404, { error: "not_found", detail: `no route for GET ${`/nope/${long}`.slice(0, 80)}...` }]);
    expect(await errorOf(app.request(`/orders/${long}`))).toEqual([400, { error: "bad_request", detail: `order_id ${"z".repeat(80)}... is not a non-negative integer` }]);
  });

  describe("GET /dlq", () => {
    const ids = { malformed: [] as string[], invalid: [] as string[], unmatched: [] as string[] };

    beforeAll(async () => {
      // 3 malformed, 2 invalid orders, 3 unmatched payments; then one discarded and one replayed once its order exists.
      await inject.publish("orders", "{bad 1", "{bad 2", "[3]", JSON.stringify(order({ quantity: 0 })), JSON.stringify(order({ price: -1 })));
      const orphanOrders = [order(), order(), order()];
      const payments = orphanOrders.map((o) => payment(o.order_id));
      await inject.publish("payments", ...payments.map((p) => envelope("payment", p)));
      await inject.idle();
      const all = (await app.get("/dlq?status=all&limit=1000")).items as { id: string; reason: string }[];
      ids.malformed = all.filter((r) => r.reason === "malformed").map((r) => r.id);
      ids.invalid = all.filter((r) => r.reason === "invalid").map((r) => r.id);
      ids.unmatched = all.filter((r) => r.reason === "unmatched_order").map((r) => r.id);
      expect([ids.malformed.length, ids.invalid.length, ids.unmatched.length]).toEqual([3, 2, 3]);
      const before = await app.get(`/dlq/${ids.malformed[0]}`);
      await waitFor("the clock past the record's updated_at", () => Date.now() > Date.parse(before.updated_at));
      const deleted = await app.request(`/dlq/${ids.malformed[0]}`, { method: "DELETE" });
      const answer = await deleted.json();
      // The answer is the stored record as it is now: status and updated_at changed, the rest as before.
      expect([deleted.status, answer]).toEqual([200, await app.get(`/dlq/${ids.malformed[0]}`)]);
      expect({ ...answer, status: before.status, updated_at: before.updated_at, next_retry_at: before.next_retry_at }).toEqual(before);
      expect([answer.status, answer.next_retry_at, answer.updated_at > before.updated_at]).toEqual(["discarded", null, true]);
      await inject.publish("orders", envelope("order", orphanOrders[0]));
      await inject.idle();
      const replayOf = `unmatched_order.payment.${payments[0]!.payment_id}`;
      expect((await app.request(`/dlq/${replayOf}/replay`, { method: "POST" })).status).toBe(200);
      await inject.idle();
      expect((await app.get(`/dlq/${replayOf}`)).status).toBe("replayed");
    }, 60_000);

    const list = async (query: string) => app.get(`/dlq${query}`);
    const idsOf = (page: { items: { id: string }[] }) => page.items.map((r) => r.id);

    test("default status=pending; filters by status and reason combine", async () => {
      const pending = await list("");
      expect([pending.total, pending.items.length, pending.next]).toEqual([6, 6, null]);
      expect(pending.items.every((r: any) => r.status === "pending")).toBe(true);
      expect(await list("?status=pending")).toEqual(pending);
      expect((await list("?status=all")).total).toBe(8);
      const discarded = await list("?status=discarded");
      expect([discarded.total, idsOf(discarded)]).toEqual([1, [ids.malformed[0]]]);
      expect((await list("?status=replayed")).total).toBe(1);
      expect((await list("?status=reconciled")).total).toBe(0);
      expect(idsOf(await list("?reason=malformed")).sort()).toEqual(ids.malformed.slice(1).sort());
      expect((await list("?reason=malformed&status=all")).total).toBe(3);
      expect(idsOf(await list("?reason=invalid")).sort()).toEqual([...ids.invalid].sort());
      expect((await list("?reason=unmatched_order")).total).toBe(2);
      expect((await list("?reason=max_attempts&status=all")).total).toBe(0);
      // Every field of a record is there.
      expect(Object.keys(pending.items[0]).sort()).toEqual(
        ["attempts", "business_key", "details", "first_seen", "id", "last_seen", "message_id", "next_retry_at", "original", "reason", "status", "subscription", "topic", "type", "updated_at"].sort(),
      );
    });

    test("limit and cursor pagination: newest first, every record once, next null on the last page", async () => {
      const everything = await list("?status=all&limit=1000");
      const order = (r: any) => `${r.first_seen} ${r.id}`;
      expect(everything.items.map(order)).toEqual([...everything.items.map(order)].sort().reverse());
      const pages: any[] = [];
      let cursor: string | null = null;
      do {
        const page: any = await list(`?status=all&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        pages.push(page);
        cursor = page.next;
      } while (cursor && pages.length < 10);
      expect(pages.map((p) => [p.items.length, p.total, p.next === null])).toEqual([[3, 8, false], [3, 8, false], [2, 8, true]]);
      expect(pages.flatMap(idsOf)).toEqual(idsOf(everything));
      const onePending = await list("?limit=1");
      expect([onePending.items.length, onePending.total, typeof onePending.next]).toEqual([1, 6, "string"]);
    });

    test("400 for a bad limit, status, reason or cursor, and for a query value over 256 characters", async () => {
      const bad = (detail: string): [number, unknown] => [400, { error: "bad_request", detail }];
      for (const limit of ["0", "1001", "abc", "2.5", "", "1e3", "0x10", "-1"]) expect(await errorOf(app.request(`/dlq?limit=${limit}`))).toEqual(bad(`limit=${limit} must be an integer in 1..1000`));
      expect(await errorOf(app.request("/dlq?status=lost"))).toEqual(bad("status=lost is not one of pending, reconciled, replayed, discarded"));
      expect(await errorOf(app.request("/dlq?reason=boredom"))).toEqual(bad("reason=boredom is not one of malformed, invalid, unmatched_order, max_attempts, duplicate_charge"));
      expect(await errorOf(app.request("/dlq?cursor=garbage"))).toEqual(bad('cursor "garbage" is not one this API returned'));
      expect(await errorOf(app.request(`/dlq?cursor=${"x".repeat(257)}`))).toEqual(bad("query value cursor is longer than 256 characters"));
      expect(await errorOf(app.request(`/dlq?reason=${"y".repeat(300)}`))).toEqual(bad("query value reason is longer than 256 characters"));
      expect(await errorOf(app.request(`/dlq/replay?reason=${"z".repeat(257)}`, { method: "POST" }))).toEqual(bad("query value reason is longer than 256 characters"));
      // 256 characters pass the length check (and then fail as an unknown reason).
      const longest = "y".repeat(256);
      expect(await errorOf(app.request(`/dlq?reason=${longest}`))).toEqual(bad(`reason=${longest} is not one of malformed, invalid, unmatched_order, max_attempts, duplicate_charge`));
    });

    test("GET /dlq/:id: one entry, 404 JSON when absent", async () => {
      const record = await app.get(`/dlq/${ids.invalid[0]}`);
      expect([record.id, record.reason, record.status]).toEqual([ids.invalid[0], "invalid", "pending"]);
      expect(await errorOf(app.request("/dlq/no-such-record"))).toEqual([404, { error: "not_found", detail: "no dead letter no-such-record" }]);
    });

    test("a body over 64 KiB is refused with 413 and nothing is replayed", async () => {
      const res = await app.request("/dlq/replay?reason=unmatched_order", { method: "POST", body: "x".repeat(70 * 1024), headers: { "content-type": "text/plain" } });
      expect(await errorOf(res)).toEqual([413, { error: "payload_too_large", detail: "request bodies are limited to 64 KiB" }]);
      expect((await list("?reason=unmatched_order")).total).toBe(2);
      // Under the limit goes through (no max_attempts records: nothing to replay).
      const ok = await app.request("/dlq/replay?reason=max_attempts", { method: "POST", body: "x".repeat(60 * 1024), headers: { "content-type": "text/plain" } });
      expect(await errorOf(ok)).toEqual([200, { replayed: [], skipped: [], count: 0 }]);
    });

    test("GET /metrics: Prometheus text with the message counters matching /status", async () => {
      await inject.idle();
      const res = await app.request("/metrics");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("text/plain");
      const text = await res.text();
      const c = (await app.get("/status")).counters;
      expect(text).toContain("# HELP ecom_messages_total Messages handled by role and outcome\n# TYPE ecom_messages_total counter\n");
      for (const role of ["order", "analytics", "payment", "dlq"]) expect(text).toContain(`ecom_messages_total{role="${role}",outcome="acked"} ${c[role].received}\n`);
      expect(text).toContain("# TYPE ecom_outbox_pending gauge\necom_outbox_pending 0\n");
      expect(text).toContain('ecom_dead_letters{status="pending"} 6\n');
      expect(text).toContain('ecom_dead_letters{status="discarded"} 1\n');
      expect(text).toContain("ecom_up 1\n");
      expect(text).toContain("# TYPE ecom_produce_to_store_seconds histogram\n");
    });
  });

  test("GET /healthz and /readyz", async () => {
    expect(await errorOf(app.request("/healthz"))).toEqual([200, { ok: true }]);
    expect(await errorOf(app.request("/readyz"))).toEqual([200, { ready: true, transport: "ok", store: "ok", data_dir: "ok" }]);
  });
});

describe("mutating endpoints need the admin token when one is set", () => {
  let app: Running;
  let inject: Awaited<ReturnType<typeof injector>>;
  let ids: string[] = [];

  beforeAll(async () => {
    const dir = tempDir();
    app = await startEcom(["--role=order,dlq", `--data-dir=${dir}`, "--admin-token=s3cret"]);
    inject = await injector(dir, ["order", "dlq"]);
    await inject.publish("orders", "{one", "{two", "{three");
    await inject.idle();
    ids = ((await app.get("/dlq")).items as { id: string }[]).map((r) => r.id);
    expect(ids.length).toBe(3);
  }, 60_000);

  afterAll(async () => {
    await inject?.close();
    if (app) {
      expect(await app.stop()).toBe(0);
      app.proc.kill("SIGKILL");
    }
  });

  const unauthorized: [number, { error: string; detail: string }] = [401, { error: "unauthorized", detail: "send Authorization: Bearer TOKEN with the --admin-token value" }];

  test("401 without a bearer or with a wrong one; reads stay open", async () => {
    const mutations = [["POST", "/dlq/replay"], ["POST", `/dlq/${ids[0]}/replay`], ["DELETE", `/dlq/${ids[0]}`]] as const;
    for (const authorization of [undefined, "Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Basic s3cret", "s3cretX", "s3cret", "Bearers3cret"]) {
      for (const [method, path] of mutations) {
        const headers: Record<string, string> = authorization ? { authorization } : {};
        expect([authorization, method, path, ...(await errorOf(app.request(path, { method, headers })))]).toEqual([authorization, method, path, ...unauthorized]);
      }
    }
    expect((await app.get("/dlq")).total).toBe(3);
    for (const path of ["/status", "/dlq", `/dlq/${ids[0]}`, "/metrics", "/analytics", "/healthz", "/readyz", "/orders/1"]) {
      expect([path, (await app.request(path)).status]).toEqual([path, path === "/orders/1" ? 404 : 200]);
    }
  });

  test("the right bearer replays and discards", async () => {
    const auth = { authorization: "Bearer s3cret" };
    const replay = await app.request(`/dlq/${ids[0]}/replay`, { method: "POST", headers: auth });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ count: 1, skipped: [], replayed: [{ id: ids[0], topic: "orders" }] });
    const discard = await app.request(`/dlq/${ids[1]}`, { method: "DELETE", headers: { authorization: "bearer s3cret" } });
    expect(discard.status).toBe(200);
    expect(await discard.json()).toMatchObject({ id: ids[1], status: "discarded" });
    // The CLI sends ECOM_ADMIN_TOKEN; without it the API's 401 is printed and it exits 1.
    const url = `--url=${app.url}`;
    const denied = await runEcom(["dlq", "discard", ids[2]!, url]);
    expect([denied.code, JSON.parse(denied.stdout)]).toEqual([1, unauthorized[1]]);
    const allowed = await runEcom(["dlq", "discard", ids[2]!, url], { ECOM_ADMIN_TOKEN: "s3cret" });
    expect([allowed.code, JSON.parse(allowed.stdout).status]).toEqual([0, "discarded"]);
    await inject.idle();
    // The token never shows in the logs.
    expect(app.output()).not.toContain("s3cret");
  }, 60_000);
});

describe("on a non-loopback host with no token", () => {
  let app: Running;
  beforeAll(async () => {
    app = await startEcom(["--role=dlq", `--data-dir=${tempDir()}`, "--host=0.0.0.0"]);
  }, 60_000);
  afterAll(async () => {
    if (app) {
      expect(await app.stop()).toBe(0);
      app.proc.kill("SIGKILL");
    }
  });

  test("POST and DELETE answer 403 saying how to set a token; GETs answer", async () => {
    for (const [method, path] of [["POST", "/dlq/replay"], ["POST", "/dlq/any/replay"], ["DELETE", "/dlq/any"]] as const) {
      const [status, body] = (await errorOf(app.request(path, { method }))) as [number, { error: string; detail: string }];
      expect([method, path, status, body.error]).toEqual([method, path, 403, "forbidden"]);
      expect(body.detail).toContain("--admin-token");
      expect(body.detail).toContain("ECOM_ADMIN_TOKEN");
    }
    for (const path of ["/status", "/dlq", "/healthz", "/readyz", "/metrics", "/analytics"]) expect([path, (await app.request(path)).status]).toEqual([path, 200]);
    expect((await app.get("/status")).roles).toEqual(["dlq"]);
  });
});

describe("graceful shutdown", () => {
  test("SIGTERM with work in flight exits 0 within 10 s; the outbox is empty and a restart loses nothing", async () => {
    const seed = 11;
    const run = ["--role=all", "--orders=3000", "--payments=3000", "--rate=1000", `--seed=${seed}`, "--unmatched-ratio=0.05", "--duplicate-ratio=0.02", "--visibility-timeout=5s"];
    const exp = expectedRun({ seed, unmatchedRatio: 0.05, duplicateRatio: 0.02 }, 3000, 3000);
    const dir = tempDir();
    const first = await startEcom([...run, `--data-dir=${dir}`]);
    try {
      const at = await waitFor("work in flight", async () => {
        const s = await first.get("/status");
        return s.counters.order.processed >= 300 ? s : null;
      }, { timeoutMs: 60_000, intervalMs: 20 });
      // Still producing (1000 messages/s for 6000 messages): the signal lands mid-run.
      expect(at.counters.producer.payments).toBeLessThan(3000);
      const t0 = performance.now();
      const code = await first.stop("SIGTERM");
      const tookMs = performance.now() - t0;
      expect(code).toBe(0);
      expect(tookMs).toBeLessThan(10_000);
    } finally {
      first.proc.kill("SIGKILL");
    }

    const db = await openDb(dir);
    try {
      expect(db.prepare("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 0 });
      expect(db.prepare("SELECT count(*) AS n FROM relay_lease").get()).toEqual({ n: 0 });
      const produced = db.prepare("SELECT orders, payments FROM producer_state").get<{ orders: number; payments: number }>()!;
      expect(produced.payments).toBeLessThan(3000);
    } finally {
      db.close();
    }

    const second = await startEcom([...run, `--data-dir=${dir}`]);
    try {
      await waitForCompletion(second, exp, 120_000);
      await verifyFinal(second, exp, seed);
      expect(await second.stop()).toBe(0);
    } finally {
      second.proc.kill("SIGKILL");
    }
  }, 180_000);
});
