// The console's costs on the demo: bundle sizes, the page's first load in headless Chromium, and ecom's CPU per second
// with no page and with one page open (process CPU time from /proc). Usage: bun bench/console.ts [--seconds=30]
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { launchBrowser } from "../tests/helpers/browser.ts";
import { startEcom, tempDir } from "../tests/helpers/ecom.ts";

const seconds = Number(process.argv.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 30);
const ticks = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks; // utime, stime
}

async function cpuPerSecond(pid: number): Promise<number> {
  const [c0, t0] = [cpuSeconds(pid), performance.now()];
  await Bun.sleep(seconds * 1000);
  return ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 1000;
}

const app = await startEcom([`--data-dir=${tempDir()}`, "--log-orders=false"]); // the demo: all roles, 5 msg/s
const pid = app.proc.pid;
try {
  const html = await (await app.request("/")).text();
  const js = await (await app.request(html.match(/src="([^"]+)"/)![1]!)).text();
  const css = await (await app.request(html.match(/href="(\/console\/[^"]+)"/)![1]!)).text();
  const size = (t: string) => `${(Buffer.byteLength(t) / 1024).toFixed(1)} KiB (${(gzipSync(t).length / 1024).toFixed(1)} KiB gzipped)`;
  console.log(`page: html ${size(html)}, script ${size(js)}, styles ${size(css)}`);
  await Bun.sleep(5000); // past the start
  const idle = await cpuPerSecond(pid);
  console.log(`ecom CPU, no page open: ${idle.toFixed(1)} ms/s over ${seconds} s`);

  const browser = await launchBrowser();
  const loads: string[] = [];
  for (let i = 0; i < 3; i++) {
    const page = await browser.newPage();
    const t0 = performance.now();
    await page.goto(app.url + "/", { waitUntil: "load" });
    const loaded = performance.now() - t0;
    await page.locator('#counters tr[data-role="dlq"]').waitFor();
    const live = performance.now() - t0;
    loads.push(`load event ${loaded.toFixed(0)} ms, live numbers and chart ${live.toFixed(0)} ms`);
    if (i < 2) await page.close();
  }
  console.log(`first loads (fresh page each, the same browser):\n  ${loads.join("\n  ")}`);
  await Bun.sleep(3000);
  const open = await cpuPerSecond(pid);
  console.log(`ecom CPU, one page open: ${open.toFixed(1)} ms/s over ${seconds} s; the page costs ${(open - idle).toFixed(1)} ms/s`);
  await browser.close();
} finally {
  await app.stop();
}
