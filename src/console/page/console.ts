// The operator console's script (bundled by Bun into the binary): live status, dead letters, orders and analytics.
import "./console.css";
import { startDlq } from "./dlq.ts";
import { startLive } from "./live.ts";
import { startAnalytics, startOrders } from "./lookup.ts";

function start(): void {
  startDlq();
  startOrders();
  const analytics = startAnalytics();
  startLive((s) => analytics.roles(s.roles));
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
