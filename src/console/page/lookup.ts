// The console's order lookup (GET /orders/:id: the fact row and its payment) and analytics (GET /analytics).
import { ApiError, getJson } from "./api.ts";
import { COLORS, TimeChart } from "./chart.ts";
import { byId, el, fmtInt, fmtMoney, setText } from "./dom.ts";

const PAYMENT_FIELDS = ["payment_id", "payment_method", "card_last_four", "payment_status", "payment_datetime"];

const facts = (entries: [string, unknown][]) =>
  entries.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", { "data-field": k }, v == null ? "—" : String(v))));

export function startOrders(): void {
  const input = byId<HTMLInputElement>("order-id");
  const message = byId("order-message");
  byId("order-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = input.value.trim();
    byId("order-fact").replaceChildren();
    byId("order-payment").replaceChildren();
    if (!/^\d+$/.test(id)) {
      message.textContent = "An order id is a non-negative integer.";
      return;
    }
    try {
      const fact = await getJson<Record<string, unknown>>(`/orders/${id}`);
      message.textContent = `Order ${id}: ${fact.payment_id == null ? "no payment matched yet" : "paid"}.`;
      byId("order-fact").replaceChildren(el("h3", {}, "Order"), ...facts(Object.entries(fact).filter(([k]) => !PAYMENT_FIELDS.includes(k))));
      byId("order-payment").replaceChildren(el("h3", {}, "Payment"), ...facts(PAYMENT_FIELDS.map((k) => [k, fact[k]])));
    } catch (error) {
      message.textContent = error instanceof ApiError ? (error.status === 404 ? `No order ${id}.` : `${error.code}: ${error.detail}`) : String(error);
    }
  });
}

interface Analytics {
  orders: number;
  revenue: number;
  average_order_value: number;
  per_minute: { minute: string; orders: number; revenue: number }[];
  top_items: { item: string; orders: number; quantity: number; revenue: number }[];
  status_counts: Record<string, number>;
}

export function startAnalytics(): { roles(roles: string[]): void } {
  let chart: TimeChart | null = null;
  let hasRole = true;
  const refresh = async () => {
    try {
      const a = await getJson<Analytics>("/analytics");
      setText("an-orders", fmtInt(a.orders));
      setText("an-revenue", fmtMoney(a.revenue));
      setText("an-aov", fmtMoney(a.average_order_value));
      chart ??= new TimeChart(byId("minutes-chart"), [
        { label: "orders", color: COLORS[0]!, bars: true },
        { label: "revenue", color: COLORS[1]!, scale: "revenue" },
      ], { height: 180, unit: "orders", rightUnit: "revenue", padSeconds: 60 });
      chart.set(a.per_minute.map((m) => Date.parse(m.minute) / 1000), [a.per_minute.map((m) => m.orders), a.per_minute.map((m) => m.revenue)]);
      byId<HTMLTableElement>("top-items").tBodies[0]!.replaceChildren(
        ...a.top_items.map((i) => el("tr", {}, el("th", { scope: "row" }, i.item), el("td", {}, fmtInt(i.orders)), el("td", {}, fmtInt(i.quantity)), el("td", {}, fmtMoney(i.revenue)))),
      );
      byId<HTMLTableElement>("status-counts").tBodies[0]!.replaceChildren(
        ...Object.entries(a.status_counts).sort((x, y) => y[1] - x[1]).map(([s, n]) => el("tr", {}, el("th", { scope: "row" }, s), el("td", {}, fmtInt(n)))),
      );
      setText("analytics-note", hasRole ? "" : a.orders ? "This process has no analytics role: these are the aggregates in its data dir." : "This process has no analytics role, and its data dir holds no aggregates.");
    } catch (error) {
      setText("analytics-note", `Analytics unavailable: ${error instanceof ApiError ? error.detail : String(error)}`);
    }
  };
  void refresh();
  setInterval(() => void refresh(), 10_000);
  return {
    roles(roles) {
      const had = hasRole;
      hasRole = roles.includes("analytics");
      if (had !== hasRole) void refresh();
    },
  };
}
