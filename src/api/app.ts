// The HTTP API of SPEC §5 (Hono): status, dead letters, facts, analytics, health, metrics.
import { timingSafeEqual } from "node:crypto";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { DEAD_LETTER_REASONS, DEAD_LETTER_STATUSES, type DeadLetterReason, type DeadLetterStatus } from "../domain/model.ts";
import { LiveStatus } from "../console/live.ts";
import { mountConsole } from "../console/routes.ts";
import { analyticsSnapshot } from "../roles/analytics.ts";
import { BASE_COUNTERS, type RoleContext } from "../roles/context.ts";
import { replay } from "../roles/dlq.ts";
import { writeFailure } from "../db/health.ts";
import { WriteProbe } from "../db/probe.ts";
import { StoreError } from "../store/types.ts";
import { customerPage } from "../store/order-cursor.ts";

export interface ApiInfo {
  version: string;
  roles: readonly string[];
  startedAt: number;
}

const EXTRA_COUNTERS: Record<string, readonly string[]> = {
  payment: ["matched", "unmatched", "duplicate_charges"],
  dlq: ["reconciled", "pending", "replayed"],
  producer: ["orders", "payments"],
  analytics: ["alerts"],
};
const MAX_QUERY_VALUE = 256;

const fail = (status: number, error: string, detail: string) => new HTTPException(status as 400, { res: Response.json({ error, detail }, { status }) });

const isLoopback = (host: string) => host === "localhost" || host === "::1" || host.startsWith("127.");

/** Constant-time bearer check; on a non-loopback host with no token, mutations are refused with how to set one. */
function adminOnly(token: string | undefined, host: string): MiddlewareHandler {
  const expected = token ? Buffer.from(token) : null;
  return async (c, next) => {
    if (!expected) {
      if (!isLoopback(host)) throw fail(403, "forbidden", "mutating endpoints are disabled on a non-loopback host without a token: start ecom with --admin-token=TOKEN (or ECOM_ADMIN_TOKEN) and send Authorization: Bearer TOKEN");
      return next();
    }
    const given = Buffer.from(/^Bearer\s+(.*)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "");
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    if (!ok) throw fail(401, "unauthorized", "send Authorization: Bearer TOKEN with the --admin-token value");
    return next();
  };
}

function query(c: Context, name: string): string | undefined {
  const value = c.req.query(name);
  if (value !== undefined && value.length > MAX_QUERY_VALUE) throw fail(400, "bad_request", `query value ${name} is longer than ${MAX_QUERY_VALUE} characters`);
  return value;
}

function oneOf<T extends string>(c: Context, name: string, values: readonly T[]): T | undefined {
  const value = query(c, name);
  if (value === undefined || value === "") return undefined;
  if (!values.includes(value as T)) throw fail(400, "bad_request", `${name}=${value} is not one of ${values.join(", ")}`);
  return value as T;
}

function limitOf(c: Context, fallback: number): number {
  const raw = query(c, "limit");
  if (raw === undefined) return fallback;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw fail(400, "bad_request", `limit=${raw} must be an integer in 1..1000`);
  return n;
}

async function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pending dead letters, or null while the store is unavailable (the other counters live in SQLite and still answer). */
async function pendingDeadLetters(ctx: RoleContext): Promise<number | null> {
  try {
    return (await ctx.store.deadLetterCounts()).pending;
  } catch (error) {
    if (error instanceof StoreError && error.retryable) return null;
    throw error;
  }
}

const probes = new WeakMap<RoleContext, WriteProbe>();

/** The data dir's write probe of a process (one per context, so the once-a-second limit holds across requests). */
function probeOf(ctx: RoleContext): WriteProbe {
  let probe = probes.get(ctx);
  if (!probe) probes.set(ctx, (probe = new WriteProbe(ctx.handle, ctx.config.dataDir)));
  return probe;
}

/**
 * Whether the transport and the store answer and the data dir takes writes: "ok" or "unavailable: why" for each
 * (GET /readyz, the console).
 */
export async function readiness(ctx: RoleContext): Promise<{ ready: boolean; transport: string; store: string; data_dir: string }> {
  const check = async (what: string, p: () => Promise<void>) => {
    try {
      await withTimeout(what, p(), 3000);
      return "ok";
    } catch (error) {
      return `unavailable: ${(error as Error).message}`;
    }
  };
  // The transport is told when time is up, so its answer names the broker it could not reach.
  const ready = new AbortController();
  const timer = setTimeout(() => ready.abort("no answer within 2500 ms"), 2500);
  const writable = async () => {
    const failure = await probeOf(ctx).check();
    if (failure) throw new Error(failure);
  };
  const [transport, store, data_dir] = await Promise.all([
    check("transport", () => ctx.transport.ping(ready.signal)),
    check("store", () => ctx.store.ping()),
    check("data dir", writable),
  ]).finally(() => clearTimeout(timer));
  return { ready: transport === "ok" && store === "ok" && data_dir === "ok", transport, store, data_dir };
}

/** GET /status; `pending` gives the dlq role's pending count (the console passes one it reads less often). */
export async function statusOf(ctx: RoleContext, info: ApiInfo, pending = () => pendingDeadLetters(ctx)) {
  const counters: Record<string, Record<string, number | null>> = {};
  for (const role of info.roles) {
    const stored = ctx.counters.get(role);
    const names = [...BASE_COUNTERS, ...(EXTRA_COUNTERS[role] ?? [])];
    counters[role] = Object.fromEntries(names.map((n) => [n, stored[n] ?? 0]));
    if (role === "dlq") counters[role]!.pending = await pending();
  }
  // A failure on record is checked again (a real write, at most once a second), so it clears once writes go through.
  if (writeFailure()) await probeOf(ctx).check();
  return {
    version: info.version,
    roles: info.roles,
    transport: ctx.transport.kind,
    store: ctx.store.kind,
    uptime_s: Math.round((Date.now() - info.startedAt) / 1000),
    counters,
    // Null while the data dir takes writes; otherwise the counters above may lag what was done since then.
    counters_stale: writeFailure(),
    outbox: ctx.outbox.stats(),
  };
}

/**
 * The methods an app's registered routes answer on `path` (its `:param` segments match any one segment), in
 * registration order; empty when no route has the path. Read from `app.routes`, so it follows the routes as they change.
 */
function methodsFor(app: Hono, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL") continue; // middleware
    if (new RegExp(`^${route.path.replace(/:[^/]+/g, "[^/]+")}$`).test(path)) methods.add(route.method);
  }
  return [...methods];
}

/** A client's value echoed in an error detail: at most 80 characters. */
const shown = (value: string) => (value.length > 80 ? `${value.slice(0, 80)}...` : value);

/** A path parameter that must be an int64 id of the data (order_id, customer_id): 0..2^53-1. */
function idParam(c: Context, name: string): number {
  const raw = c.req.param(name) ?? "";
  if (!/^\d+$/.test(raw)) throw fail(400, "bad_request", `${name} ${shown(raw)} is not a non-negative integer`);
  const id = Number(raw);
  if (!Number.isSafeInteger(id)) throw fail(400, "bad_request", `${name} ${shown(raw)} is out of range: at most ${Number.MAX_SAFE_INTEGER}`);
  return id;
}
const noDeadLetter = (id: string) => ({ error: "not_found", detail: `no dead letter ${shown(id)}` });

/** The API; its `live` view samples every second until stopped (at shutdown, before the database closes). */
export function createApi(ctx: RoleContext, info: ApiInfo): Hono & { live: LiveStatus } {
  const app = new Hono();
  const admin = adminOnly(ctx.config.adminToken, ctx.config.host);
  const limit = bodyLimit({ maxSize: 64 * 1024, onError: () => { throw fail(413, "payload_too_large", "request bodies are limited to 64 KiB"); } });

  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    if (error instanceof StoreError) return c.json({ error: "store_unavailable", detail: error.message }, error.retryable ? 503 : 500);
    ctx.log.error({ err: error, path: c.req.path }, "request failed");
    return c.json({ error: "internal", detail: (error as Error).message }, 500);
  });
  app.notFound((c) => {
    // A known path asked with another method: 405 with Allow.
    const allowed = methodsFor(app, c.req.path);
    if (allowed.length) {
      c.header("Allow", allowed.join(", "));
      return c.json({ error: "method_not_allowed", detail: `${c.req.method} ${shown(c.req.path)}: allowed ${allowed.join(", ")}` }, 405);
    }
    return c.json({ error: "not_found", detail: `no route for ${c.req.method} ${shown(c.req.path)}` }, 404);
  });

  const live = new LiveStatus({
    status: (pending) => statusOf(ctx, info, pending),
    pendingDeadLetters: () => pendingDeadLetters(ctx),
    readiness: () => readiness(ctx),
    metrics: ctx.metrics,
    log: ctx.log,
  });
  live.start();
  mountConsole(app, live, { version: info.version, reasons: DEAD_LETTER_REASONS, statuses: DEAD_LETTER_STATUSES });

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", async (c) => {
    const { ready, transport, store, data_dir } = await readiness(ctx);
    return c.json({ ready, transport, store, data_dir }, ready ? 200 : 503);
  });
  app.get("/status", async (c) => c.json(await statusOf(ctx, info)));
  app.get("/metrics", async (c) => {
    const status = await statusOf(ctx, info, async () => null);
    ctx.metrics.outboxPending.set(status.outbox.pending);
    ctx.metrics.outboxSent.set(status.outbox.sent);
    for (const [role, counters] of Object.entries(status.counters)) {
      for (const [counter, n] of Object.entries(counters)) if (n !== null) ctx.metrics.counters.set({ role, counter }, n);
    }
    try {
      for (const [status, n] of Object.entries(await ctx.store.deadLetterCounts())) ctx.metrics.deadLetters.set({ status }, n);
    } catch {}
    return c.text(await ctx.metrics.registry.metrics(), 200, { "content-type": ctx.metrics.registry.contentType });
  });

  app.get("/orders/:order_id", async (c) => {
    const id = idParam(c, "order_id");
    const fact = await ctx.store.getFact(id);
    if (!fact) return c.json({ error: "not_found", detail: `no order ${id}` }, 404);
    return c.json(fact);
  });
  app.get("/customers/:customer_id/orders", async (c) => {
    const id = idParam(c, "customer_id");
    try {
      return c.json(await customerPage(ctx.store, id, { limit: limitOf(c, 100), cursor: query(c, "cursor") }));
    } catch (error) {
      if (error instanceof StoreError && !error.retryable) throw fail(400, "bad_request", error.message);
      throw error;
    }
  });
  app.get("/analytics", (c) => c.json(analyticsSnapshot(ctx.db, ctx.clock())));

  app.get("/dlq", async (c) => {
    const statusParam = query(c, "status");
    const status: DeadLetterStatus | undefined = statusParam === "all" ? undefined : (oneOf(c, "status", DEAD_LETTER_STATUSES) ?? "pending");
    const reason = oneOf<DeadLetterReason>(c, "reason", DEAD_LETTER_REASONS);
    try {
      return c.json(await ctx.store.listDeadLetters({ status, reason, limit: limitOf(c, 100), cursor: query(c, "cursor") }));
    } catch (error) {
      if (error instanceof StoreError && !error.retryable) throw fail(400, "bad_request", error.message);
      throw error;
    }
  });
  app.get("/dlq/:id", async (c) => {
    const record = await ctx.store.getDeadLetter(c.req.param("id"));
    if (!record) return c.json(noDeadLetter(c.req.param("id")), 404);
    return c.json(record);
  });
  app.post("/dlq/replay", limit, admin, async (c) => {
    const reason = oneOf<DeadLetterReason>(c, "reason", DEAD_LETTER_REASONS);
    const records = [];
    let cursor: string | undefined;
    do {
      const page = await ctx.store.listDeadLetters({ status: "pending", reason, limit: 1000, cursor });
      records.push(...page.items);
      cursor = page.next ?? undefined;
    } while (cursor && records.length < 100_000);
    const result = await replay(ctx, records);
    ctx.log.info({ replayed: result.replayed.length, reason: reason ?? "any" }, "dead letters replayed");
    return c.json({ ...result, count: result.replayed.length });
  });
  app.post("/dlq/:id/replay", limit, admin, async (c) => {
    const record = await ctx.store.getDeadLetter(c.req.param("id"));
    if (!record) return c.json(noDeadLetter(c.req.param("id")), 404);
    const result = await replay(ctx, [record]);
    if (result.skipped.length) throw fail(409, "not_replayable", result.skipped[0]!.reason);
    ctx.log.info({ id: record.id }, "dead letter replayed");
    return c.json({ ...result, count: result.replayed.length });
  });
  app.delete("/dlq/:id", limit, admin, async (c) => {
    const record = await ctx.store.getDeadLetter(c.req.param("id"));
    if (!record) return c.json(noDeadLetter(c.req.param("id")), 404);
    await ctx.store.updateDeadLetters([{ id: record.id, status: "discarded", next_retry_at: null }]);
    ctx.log.info({ id: record.id }, "dead letter discarded");
    // The stored record as it is now (its updated_at and next_retry_at changed with the status).
    return c.json((await ctx.store.getDeadLetter(record.id)) ?? { ...record, status: "discarded" });
  });
  return Object.assign(app, { live });
}
