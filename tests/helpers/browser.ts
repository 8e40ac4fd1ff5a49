// Headless Debian Chromium driven by playwright-core (no browser download), with a fresh profile per launch.
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ROOT } from "./ecom.ts";

export const CHROMIUM = process.env.ECOM_CHROMIUM ?? "/usr/bin/chromium";

// Without the background-networking flags Chromium tries Google's hosts at start, which a closed network refuses.
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Where screenshots go: ECOM_TEST_OUTPUT_DIR, or .services/test-output. */
export function outputDir(): string {
  const dir = process.env.ECOM_TEST_OUTPUT_DIR ?? join(ROOT, ".services", "test-output");
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function launchBrowser(viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/test installs it (apt-get install -y chromium), or set ECOM_CHROMIUM`);
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "ecom-chromium-")), { headless: true, executablePath: CHROMIUM, args: FLAGS, viewport });
}

/** What went wrong on a page: console errors and warnings, uncaught errors, failed requests, HTTP errors. */
export function watchProblems(page: Page, allowed: (problem: string) => boolean = () => false): string[] {
  const problems: string[] = [];
  const add = (p: string) => void (allowed(p) || problems.push(p));
  page.on("console", (m) => (m.type() === "error" || m.type() === "warning") && add(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => add(`page error: ${e.message}`));
  page.on("requestfailed", (r) => add(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => r.status() >= 400 && add(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`));
  return problems;
}
