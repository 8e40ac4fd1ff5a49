// The console's dead letters: filtered pages of GET /dlq, an entry's detail, Replay and Discard, replay of a reason.
import { ApiError, getJson, mutate } from "./api.ts";
import { byId, el, fmtInt, pretty } from "./dom.ts";

interface DeadLetter {
  id: string;
  reason: string;
  details: unknown;
  original: string;
  topic: string;
  type: string | null;
  business_key: string | null;
  attempts: number;
  first_seen: string;
  last_seen: string;
  status: string;
  next_retry_at: string | null;
  updated_at: string;
}
interface Page {
  items: DeadLetter[];
  total: number;
  next: string | null;
}

const PAGE_SIZE = 20;

export function startDlq(): { refresh(): void } {
  const status = byId<HTMLSelectElement>("dlq-status");
  const reason = byId<HTMLSelectElement>("dlq-reason");
  const replayAll = byId<HTMLButtonElement>("dlq-replay-all");
  const message = byId("dlq-message");
  const table = byId<HTMLTableElement>("dlq-table");
  const body = table.tBodies[0]!;
  const detail = byId("dlq-detail");
  status.value = "pending";
  /** The cursor of the page shown (null: the first) and of the next one. */
  let cursor: string | null = null;
  let next: string | null = null;
  let shown: DeadLetter | null = null;
  let loading = false;

  const say = (text: string, bad = false) => {
    message.textContent = text;
    message.className = `message ${bad ? "bad" : ""}`;
  };
  const failure = (what: string, error: unknown) => {
    const e = error as ApiError;
    say(`${what}: ${e instanceof ApiError ? `${e.code} (${e.status}): ${e.detail}` : String(error)}`, true);
  };

  const query = (from: string | null) => {
    const q = new URLSearchParams({ status: status.value, limit: String(PAGE_SIZE) });
    if (reason.value) q.set("reason", reason.value);
    if (from) q.set("cursor", from);
    return `/dlq?${q}`;
  };

  const actions = (r: DeadLetter) => {
    const open = r.status === "pending";
    const replay = el("button", { type: "button", "data-action": "replay", disabled: !open && r.status !== "discarded", "aria-label": `Replay ${r.id}` }, "Replay");
    const discard = el("button", { type: "button", "data-action": "discard", disabled: !open, "aria-label": `Discard ${r.id}` }, "Discard");
    replay.addEventListener("click", () => void act(r.id, "replay"));
    discard.addEventListener("click", () => void act(r.id, "discard"));
    return el("td", { class: "actions" }, replay, " ", discard);
  };

  const row = (r: DeadLetter) => {
    const open = el("button", { type: "button", class: "link", "aria-label": `Details of ${r.id}` }, r.id);
    open.addEventListener("click", () => show(r));
    return el("tr", { "data-id": r.id },
      el("td", { class: "id" }, open),
      el("td", {}, r.reason),
      el("td", { "data-field": "status" }, r.status),
      el("td", {}, fmtInt(r.attempts)),
      el("td", {}, r.last_seen.replace("T", " ").replace(/\.\d+Z$/, "Z")),
      actions(r),
    );
  };

  const load = async (from: string | null) => {
    if (loading) return;
    loading = true;
    table.setAttribute("aria-busy", "true");
    try {
      const page = await getJson<Page>(query(from));
      cursor = from;
      next = page.next;
      body.replaceChildren(...(page.items.length ? page.items.map(row) : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No dead letters match."))]));
      byId("dlq-total").textContent = `${fmtInt(page.total)} matching`;
      byId<HTMLButtonElement>("dlq-next").disabled = !next;
      byId<HTMLButtonElement>("dlq-first").disabled = !cursor;
    } catch (error) {
      failure("Listing dead letters failed", error);
    } finally {
      loading = false;
      table.setAttribute("aria-busy", "false");
    }
  };

  /** Puts the stored record in its row (and the detail when it is the one shown). */
  const update = (r: DeadLetter) => {
    const current = body.querySelector<HTMLTableRowElement>(`tr[data-id="${CSS.escape(r.id)}"]`);
    current?.replaceWith(row(r));
    if (shown?.id === r.id) show(r);
  };

  const act = async (id: string, action: "replay" | "discard") => {
    try {
      if (action === "replay") await mutate("POST", `/dlq/${encodeURIComponent(id)}/replay`);
      else await mutate("DELETE", `/dlq/${encodeURIComponent(id)}`);
      const stored = await getJson<DeadLetter>(`/dlq/${encodeURIComponent(id)}`);
      update(stored);
      say(`${action === "replay" ? "Replayed" : "Discarded"} ${id}: now ${stored.status}.`);
    } catch (error) {
      failure(`${action === "replay" ? "Replay" : "Discard"} of ${id} refused`, error);
    }
  };

  function show(r: DeadLetter): void {
    shown = r;
    detail.hidden = false;
    byId("dlq-detail-id").textContent = r.id;
    const facts: [string, string][] = [
      ["Reason", r.reason], ["Status", r.status], ["Topic", r.topic], ["Type", r.type ?? "—"], ["Key", r.business_key ?? "—"],
      ["Attempts", fmtInt(r.attempts)], ["First seen", r.first_seen], ["Last seen", r.last_seen], ["Next retry", r.next_retry_at ?? "—"],
    ];
    byId("dlq-detail-facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", { "data-field": k.toLowerCase() }, v))));
    byId("dlq-detail-details").textContent = JSON.stringify(r.details, null, 2);
    byId("dlq-detail-original").textContent = pretty(r.original);
    byId<HTMLButtonElement>("dlq-detail-replay").disabled = r.status !== "pending" && r.status !== "discarded";
    byId<HTMLButtonElement>("dlq-detail-discard").disabled = r.status !== "pending";
  }

  byId("dlq-detail-replay").addEventListener("click", () => shown && void act(shown.id, "replay"));
  byId("dlq-detail-discard").addEventListener("click", () => shown && void act(shown.id, "discard"));
  byId("dlq-detail-close").addEventListener("click", () => {
    detail.hidden = true;
    shown = null;
  });
  byId("dlq-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    void load(null);
  });
  byId("dlq-next").addEventListener("click", () => next && void load(next));
  byId("dlq-first").addEventListener("click", () => void load(null));
  const syncReplayAll = () => {
    replayAll.disabled = !reason.value;
    replayAll.textContent = reason.value ? `Replay all pending ${reason.value}` : "Replay all pending (pick a reason)";
  };
  reason.addEventListener("change", syncReplayAll);
  syncReplayAll();
  replayAll.addEventListener("click", async () => {
    if (!reason.value) return;
    try {
      const result = await mutate<{ count: number; skipped: { id: string; reason: string }[] }>("POST", `/dlq/replay?reason=${encodeURIComponent(reason.value)}`);
      say(`Replayed ${fmtInt(result.count)} pending ${reason.value} dead letters${result.skipped.length ? `; ${result.skipped.length} could not be replayed` : ""}.`);
      void load(cursor);
    } catch (error) {
      failure(`Replay of pending ${reason.value} refused`, error);
    }
  });

  void load(null);
  return { refresh: () => void load(cursor) };
}
