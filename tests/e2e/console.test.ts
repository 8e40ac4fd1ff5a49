// The operator console (GET /) in headless Chromium against the compiled binary, and GET /events read as curl would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { launchBrowser, outputDir, watchProblems } from "../helpers/browser.ts";
import { runEcom, startEcom, tempDir, type Running } from "../helpers/ecom.ts";
import { waitFor } from "../helpers/wait.ts";

const ROLES = ["producer", "order", "payment", "analytics", "dlq"];
const TOKEN = "console-test-token-4242";
const CARD = "4111111111111111";

const order = (id: number, item = "Lamp") => ({ order_id: id, customer_id: 77, item, quantity: 2, price: 30, shipping_address: `${id} Elm St`, order_status: "pending", creation_date: "2026-03-01T10:00:00.000Z" });
const payment = (id: number, orderId: number) => ({ payment_id: id, order_id: orderId, payment_method: "debit_card", card_last_four: "1881", payment_status: "completed", payment_datetime: "2026-03-01T10:00:05.000Z" });

/** `ecom produce --from-file` into a running instance's data dir; returns what it wrote to stderr (the invalid lines). */
async function produce(dir: string, records: unknown[], ...extra: string[]): Promise<string> {
  const path = join(tempDir("ecom-console-"), "records.ndjson");
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join("\n"));
  const result = await runEcom(["produce", "--from-file", path, `--data-dir=${dir}`, "--log-level=warn", ...extra]);
  expect(result.code).toBe(0);
  return result.stderr;
}

const deadLetter = (app: Running, id: string) => app.request(`/dlq/${id}`).then((r) => (r.ok ? r.json() : null));

/** A counter as the page's table shows it (digits only). */
async function cell(page: Page, role: string, counter: string): Promise<number> {
  const text = await page.locator(`#counters tr[data-role="${role}"] td[data-counter="${counter}"]`).textContent();
  return Number((text ?? "").replace(/,/g, ""));
}

/** Shows the pending dead letters of a reason, paging with Next until the row of `id` shows, and returns it. */
async function showRow(page: Page, reason: string, id: string) {
  await page.selectOption("#dlq-status", "pending");
  await page.selectOption("#dlq-reason", reason);
  const row = page.locator(`#dlq-table tr[data-id="${id}"]`);
  // The table says aria-busy while a page loads: each look is at a page wholly shown.
  const loaded = () => page.locator('#dlq-table[aria-busy="false"]').waitFor({ timeout: 15_000 });
  await page.click("#dlq-filters button[type=submit]");
  await loaded();
  await waitFor(`the row of ${id}`, async () => {
    if (await row.count()) return true;
    if (await page.isDisabled("#dlq-next")) await page.click("#dlq-filters button[type=submit]");
    else await page.click("#dlq-next");
    await loaded();
    return false;
  }, { timeoutMs: 30_000, intervalMs: 300 });
  return row;
}

let browser: BrowserContext;
let dir: string;
let app: Running;

beforeAll(async () => {
  dir = tempDir();
  // A producer under load, whose payments all find their orders: the dead letters are the test's own.
  const [started, launched] = await Promise.all([
    startEcom(["--role=all", `--data-dir=${dir}`, "--rate=60", "--unmatched-ratio=0", "--dlq-retry-base=1h", "--dlq-retry-max=1h"]),
    launchBrowser(),
  ]);
  app = started;
  browser = launched;
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (app) {
    expect(await app.stop()).toBe(0);
    app.proc.kill("SIGKILL");
  }
});

describe("GET /events", () => {
  test("status snapshots as data: lines, every second; ?history=1 sends the history first", async () => {
    const res = await app.request("/events?history=1");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    const started = Date.now();
    while ((text.match(/\n\n/g) ?? []).length < 4) text += new TextDecoder().decode((await reader.read()).value);
    const elapsed = Date.now() - started;
    await reader.cancel();
    const events = text.split("\n\n").filter(Boolean).slice(0, 4).map((block) => Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)])));
    expect(events[0]!.event).toBe("history");
    const history = JSON.parse(events[0]!.data!);
    expect(Object.keys(history).sort()).toEqual(["interval_ms", "outbox_pending", "p50", "p99", "rates", "t"]);
    expect(history.interval_ms).toBe(1000);
    expect(history.t.length).toBe(history.outbox_pending.length);
    const snapshots = events.slice(1).map((e) => (expect(e.event).toBeUndefined(), JSON.parse(e.data!)));
    for (const s of snapshots) {
      expect(s.roles).toEqual(ROLES);
      expect(Object.keys(s.counters)).toEqual(ROLES);
      expect(Object.keys(s.rates)).toEqual(ROLES);
      expect(s.transport).toBe("local");
      expect(s.store).toBe("sqlite");
      expect(Object.keys(s.outbox).sort()).toEqual(["pending", "sent"]);
      expect(Object.keys(s.latency_ms).sort()).toEqual(["count", "p50", "p99"]);
    }
    expect(snapshots[0].ready).toMatchObject({ ready: true, transport: "ok", store: "ok" });
    expect(snapshots[2].t - snapshots[1].t).toBeGreaterThanOrEqual(500);
    expect(snapshots[2].t - snapshots[1].t).toBeLessThanOrEqual(2000);
    // Three snapshots after the first took no more than a few seconds (each second a new one).
    expect(elapsed).toBeLessThan(8000);
  });
});

describe("the console page", () => {
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    page = await browser.newPage();
    problems = watchProblems(page);
    await page.goto(app.url + "/");
    await page.locator('#counters tr[data-role="dlq"]').waitFor({ timeout: 20_000 });
  }, 60_000);

  test("loads with no console errors and no failed requests, and shows every role, transport, store and readiness", async () => {
    expect(await page.locator("#counters tbody tr th").allTextContents()).toEqual(ROLES);
    expect(await page.textContent("#roles")).toBe(ROLES.join(", "));
    expect(await page.textContent("#transport")).toBe("local");
    expect(await page.textContent("#store")).toBe("sqlite");
    await waitFor("readiness shown", async () => (await page.textContent("#store-ready")) === "ready" && (await page.textContent("#transport-ready")) === "ready", { timeoutMs: 15_000 });
    expect(await page.textContent("#link")).toBe("live");
    expect(await page.locator("#chart canvas").count()).toBe(1);
    expect(problems).toEqual([]);
  });

  test("the counters rise while the producer runs (read twice, 3 s apart)", async () => {
    const read = async () => ({ produced: await cell(page, "producer", "processed"), orders: await cell(page, "order", "received"), payments: await cell(page, "payment", "received") });
    const first = await read();
    // The spec's interval: the page must have moved on its own within 3 s (snapshots come every second).
    await page.waitForTimeout(3000);
    const second = await read();
    expect(second.produced).toBeGreaterThan(first.produced);
    expect(second.orders).toBeGreaterThan(first.orders);
    expect(second.payments).toBeGreaterThan(first.payments);
    // What the page shows is what the server counted (never ahead of a later /status).
    const status = await app.get("/status");
    expect(second.produced).toBeLessThanOrEqual(status.counters.producer.processed);
    expect(second.orders).toBeLessThanOrEqual(status.counters.order.received);
    expect(Number((await page.textContent('#counters tr[data-role="producer"] td[data-counter="rate"]'))!)).toBeGreaterThan(0);
  });

  test("dead letters: pages follow the /dlq cursor; the detail shows the original as text, masked", async () => {
    // 26 invalid orders (two pages), one of them carrying a card number; and a valid order whose item is markup.
    const invalid = Array.from({ length: 25 }, (_, i) => ({ ...order(990_600 + i), quantity: -1 }));
    const stderr = await produce(dir, [...invalid, order(990_500, `<img src=x onerror="window.__pwned=1">`), { ...order(990_501), quantity: -1, shipping_address: `card ${CARD}` }], "--skip-invalid");
    expect(stderr.trim().split("\n").length).toBe(26);
    await waitFor("26 pending invalid dead letters", async () => (await app.get("/dlq?reason=invalid&limit=1")).total === 26, { timeoutMs: 30_000 });
    await page.selectOption("#dlq-status", "pending");
    await page.selectOption("#dlq-reason", "invalid");
    await page.click("#dlq-filters button[type=submit]");
    await waitFor("a full first page", async () => (await page.locator("#dlq-table tbody tr[data-id]").count()) === 20, { timeoutMs: 15_000 });
    expect(await page.textContent("#dlq-total")).toBe("26 matching");
    const firstIds = await page.locator("#dlq-table tbody tr[data-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")));
    const apiFirst = await app.get("/dlq?status=pending&reason=invalid&limit=20");
    expect(firstIds).toEqual(apiFirst.items.map((r: { id: string }) => r.id));
    await page.click("#dlq-next");
    await waitFor("the second page", async () => (await page.locator("#dlq-table tbody tr[data-id]").first().getAttribute("data-id")) !== firstIds[0], { timeoutMs: 15_000 });
    const secondIds = await page.locator("#dlq-table tbody tr[data-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")));
    const apiSecond = await app.get(`/dlq?status=pending&reason=invalid&limit=20&cursor=${encodeURIComponent(apiFirst.next)}`);
    expect(secondIds).toEqual(apiSecond.items.map((r: { id: string }) => r.id));
    expect(secondIds.length).toBe(6);
    expect(await page.isDisabled("#dlq-next")).toBe(true);
    expect(secondIds.filter((id) => firstIds.includes(id))).toEqual([]);

    const row = await showRow(page, "invalid", "invalid.order.990501");
    await row.locator("button.link").click();
    await page.locator("#dlq-detail").waitFor({ state: "visible" });
    expect(await page.textContent("#dlq-detail-id")).toBe("invalid.order.990501");
    expect(await page.textContent('#dlq-detail-facts dd[data-field="reason"]')).toBe("invalid");
    const original = (await page.textContent("#dlq-detail-original"))!;
    expect(original).toContain('"order_id": 990501');
    expect(original).not.toContain(CARD);
    expect(original).toContain("1111");
    expect(await page.textContent("#dlq-detail-details")).toContain("quantity");
    // The markup order was valid, so it is a fact row: the lookup shows its item as text.
    await page.fill("#order-id", "990500");
    await page.click("#order-form button[type=submit]");
    await page.locator('#order-fact dd[data-field="item"]').waitFor({ timeout: 15_000 });
    expect(await page.textContent('#order-fact dd[data-field="item"]')).toBe(`<img src=x onerror="window.__pwned=1">`);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator("img").count()).toBe(0);
    expect(problems).toEqual([]);
  }, 120_000);

  test("a dead letter's Replay click changes its status in the table and in GET /dlq/:id", async () => {
    // A payment ahead of its order: pending unmatched_order (retried only in an hour); then its order arrives.
    await produce(dir, [payment(990_001, 990_002)]);
    const id = "unmatched_order.payment.990001";
    await waitFor(`${id} pending`, async () => (await deadLetter(app, id))?.status === "pending", { timeoutMs: 30_000 });
    await produce(dir, [order(990_002)]);
    await waitFor("order 990002 stored", async () => (await app.request("/orders/990002")).ok, { timeoutMs: 30_000 });
    const row = await showRow(page, "unmatched_order", id);
    expect(await row.locator('[data-field="status"]').textContent()).toBe("pending");
    await row.locator('button[data-action="replay"]').click();
    await page.locator(`#dlq-table tr[data-id="${id}"] [data-field="status"]`, { hasText: "replayed" }).waitFor({ timeout: 15_000 });
    expect((await deadLetter(app, id)).status).toBe("replayed");
    expect(await page.textContent("#dlq-message")).toBe(`Replayed ${id}: now replayed.`);
    // The replayed payment found its order.
    await waitFor("the replayed payment matched", async () => (await app.get("/orders/990002")).payment_id === 990_001, { timeoutMs: 30_000 });
    expect((await deadLetter(app, id)).status).toBe("replayed");
    await page.fill("#order-id", "990002");
    await page.click("#order-form button[type=submit]");
    await page.locator('#order-payment dd[data-field="payment_id"]', { hasText: "990001" }).waitFor({ timeout: 15_000 });
    expect(problems).toEqual([]);
  }, 120_000);

  test("a screenshot under load, at 1280x800 and at 390x844 (nothing wider than the phone's screen)", async () => {
    await waitFor("analytics drawn", async () => (await page.locator("#top-items tbody tr").count()) > 0, { timeoutMs: 20_000 });
    const out = outputDir();
    await page.screenshot({ path: join(out, "console-1280x800.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await waitFor("the page narrowed", async () => (await page.evaluate(() => document.documentElement.clientWidth)) === 390, { timeoutMs: 5000 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(out, "console-390x844.png"), fullPage: true });
    expect(problems).toEqual([]);
  });

  test("keyboard: Tab from the top reaches the skip link, then the dead-letter filters; Enter on the link moves there", async () => {
    const fresh = await browser.newPage();
    await fresh.setViewportSize({ width: 390, height: 844 });
    const freshProblems = watchProblems(fresh);
    await fresh.goto(app.url + "/");
    await fresh.locator('#counters tr[data-role="dlq"]').waitFor({ timeout: 20_000 });
    await fresh.keyboard.press("Tab");
    expect(await fresh.evaluate(() => document.activeElement?.textContent)).toBe("Skip to dead letters");
    await fresh.keyboard.press("Enter");
    await fresh.keyboard.press("Tab");
    expect(await fresh.evaluate(() => document.activeElement?.id)).toBe("dlq-status");
    expect(freshProblems).toEqual([]);
    await fresh.close();
  });
});

describe("split role layouts: each process's page shows what it has", () => {
  let producer: Running;
  let consumers: Running;

  beforeAll(async () => {
    const shared = tempDir();
    // One after the other, so the page of each shows a process that is already up.
    producer = await startEcom(["--role=producer", "--rate=20", `--data-dir=${shared}`]);
    consumers = await startEcom(["--role=order,payment,dlq", `--data-dir=${shared}`]);
  }, 60_000);

  afterAll(async () => {
    for (const app of [producer, consumers]) {
      if (!app) continue;
      expect(await app.stop()).toBe(0);
      app.proc.kill("SIGKILL");
    }
  });

  test("a producer alone, and order,payment,dlq beside it on the same data dir", async () => {
    const page = await browser.newPage();
    const problems = watchProblems(page);
    await page.goto(producer.url + "/");
    await page.locator('#counters tr[data-role="producer"]').waitFor({ timeout: 20_000 });
    expect(await page.locator("#counters tbody tr th").allTextContents()).toEqual(["producer"]);
    await waitFor("the producer's count shown", async () => (await cell(page, "producer", "processed")) > 0, { timeoutMs: 20_000 });
    expect(await page.textContent("#dlq-pending")).toBe("no dlq role here");
    expect(await page.textContent("#p50")).toBe("—");
    await page.locator("#analytics-note", { hasText: "no analytics role" }).waitFor({ timeout: 15_000 });
    // The dead letters are the store's (shared with the consumers here), so a process without the dlq role lists them.
    await page.locator("#dlq-total", { hasText: "matching" }).waitFor({ timeout: 15_000 });
    expect(await page.textContent("#dlq-total")).toMatch(/^\d+ matching$/);

    expect(problems).toEqual([]);
    await page.close();

    const second = await browser.newPage();
    const secondProblems = watchProblems(second);
    await second.goto(consumers.url + "/");
    await second.locator('#counters tr[data-role="dlq"]').waitFor({ timeout: 20_000 });
    expect(await second.locator("#counters tbody tr th").allTextContents()).toEqual(["order", "payment", "dlq"]);
    await waitFor("orders received from the other process", async () => (await cell(second, "order", "received")) > 0, { timeoutMs: 20_000 });
    await waitFor("latency shown", async () => (await second.textContent("#p99")) !== "—", { timeoutMs: 20_000 });
    expect(await second.textContent("#dlq-pending")).toMatch(/^\d+$/);
    expect(secondProblems).toEqual([]);
    await second.close();
  }, 90_000);
});

describe("with --admin-token", () => {
  let secured: Running;
  let securedDir: string;

  beforeAll(async () => {
    securedDir = tempDir();
    secured = await startEcom(["--role=all", "--orders=0", "--payments=0", `--data-dir=${securedDir}`, `--admin-token=${TOKEN}`, "--dlq-retry-base=1h", "--dlq-retry-max=1h"]);
  }, 60_000);

  afterAll(async () => {
    if (secured) {
      expect(await secured.stop()).toBe(0);
      secured.proc.kill("SIGKILL");
    }
  });

  test("Replay without the token is refused; the page asks for it once, sends it as Bearer and keeps it out of URLs and storage", async () => {
    const id = "unmatched_order.payment.770001";
    await produce(securedDir, [payment(770_001, 770_002)]);
    await waitFor(`${id} pending`, async () => (await deadLetter(secured, id))?.status === "pending", { timeoutMs: 30_000 });
    await produce(securedDir, [order(770_002)]);
    await waitFor("order 770002 stored", async () => (await secured.request("/orders/770002")).ok, { timeoutMs: 30_000 });

    const page = await browser.newPage();
    const urls: string[] = [];
    const auth: (string | undefined)[] = [];
    page.on("request", (r) => {
      urls.push(r.url());
      if (r.method() === "POST") auth.push(r.headers().authorization);
    });
    // The refused attempt is the point of this test: its 401 (and Chromium's line about it) is expected.
    const problems = watchProblems(page, (p) => p.includes("401"));
    await page.goto(secured.url + "/");
    const row = await showRow(page, "unmatched_order", id);

    // Without the token: refused, the record unchanged.
    const refused = page.waitForResponse((r) => r.request().method() === "POST");
    await row.locator('button[data-action="replay"]').click();
    expect((await refused).status()).toBe(401);
    await page.locator("#token-dialog[open]").waitFor();
    await page.click("#token-cancel");
    await page.locator("#dlq-message", { hasText: "refused" }).waitFor();
    expect(await page.textContent("#dlq-message")).toBe(`Replay of ${id} refused: unauthorized (401): send Authorization: Bearer TOKEN with the --admin-token value`);
    expect((await deadLetter(secured, id)).status).toBe("pending");
    expect(await page.textContent(`#dlq-table tr[data-id="${id}"] [data-field="status"]`)).toBe("pending");

    // With it: accepted.
    await row.locator('button[data-action="replay"]').click();
    await page.locator("#token-dialog[open]").waitFor();
    await page.fill("#token-input", TOKEN);
    const accepted = page.waitForResponse((r) => r.request().method() === "POST" && r.status() === 200);
    await page.click("#token-ok");
    await accepted;
    await page.locator(`#dlq-table tr[data-id="${id}"] [data-field="status"]`, { hasText: "replayed" }).waitFor({ timeout: 15_000 });
    expect((await deadLetter(secured, id)).status).toBe("replayed");
    expect(auth).toEqual([undefined, undefined, `Bearer ${TOKEN}`]);
    expect(urls.filter((u) => u.includes(TOKEN))).toEqual([]);
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([0, 0, ""]);
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});
