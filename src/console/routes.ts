// The console's routes: the page at GET /, its script and styles, and the GET /events stream of status snapshots.
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { consoleAssets } from "./assets.ts";
import { pageHtml, type PageMeta } from "./html.ts";
import type { LiveStatus, Snapshot } from "./live.ts";

/** Open /events streams are bounded: each costs a snapshot per second. */
export const MAX_STREAMS = 32;

// The page loads nothing from elsewhere and runs no inline script: what a dead letter carries can never run as code.
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export function mountConsole(app: Hono, live: LiveStatus, meta: Omit<PageMeta, "jsHash" | "cssHash">): void {
  app.get("/", async (c) => {
    const assets = await consoleAssets();
    return c.html(pageHtml({ ...meta, jsHash: assets.jsHash, cssHash: assets.cssHash }), 200, PAGE_HEADERS);
  });
  const asset = (type: string, pick: (a: Awaited<ReturnType<typeof consoleAssets>>) => string) => async (c: { body: (b: string, s: 200, h: Record<string, string>) => Response }) => {
    const text = pick(await consoleAssets());
    return c.body(text, 200, { "content-type": type, "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" });
  };
  app.get("/console/app.js", asset("text/javascript; charset=utf-8", (a) => a.js));
  app.get("/console/app.css", asset("text/css; charset=utf-8", (a) => a.css));

  app.get("/events", async (c) => {
    if (live.subscribers >= MAX_STREAMS) {
      return c.json({ error: "too_many_streams", detail: `at most ${MAX_STREAMS} /events streams are served at once; close one and retry` }, 503);
    }
    const history = c.req.query("history") === "1";
    return streamSSE(c, async (stream) => {
      let latest: Snapshot | null = null;
      let wake: (() => void) | null = null;
      const unsubscribe = live.subscribe((s) => {
        latest = s;
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      try {
        // Browsers reconnect after `retry` ms when the stream drops (a restart of ecom).
        if (history) await stream.writeSSE({ event: "history", data: JSON.stringify(live.history()), retry: 2000 });
        await stream.writeSSE({ data: JSON.stringify(await live.current()), ...(history ? {} : { retry: 2000 }) });
        while (!stream.aborted && !stream.closed) {
          if (!latest) await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          const next: Snapshot | null = latest;
          latest = null;
          if (next && !stream.aborted) await stream.writeSSE({ data: JSON.stringify(next) });
        }
      } finally {
        unsubscribe();
      }
    });
  });
}
