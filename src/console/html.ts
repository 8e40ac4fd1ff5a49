// The console page's HTML skeleton: static markup the script fills in (every value it shows is set as text, never as HTML).

export interface PageMeta {
  version: string;
  reasons: readonly string[];
  statuses: readonly string[];
  /** Content hashes of the script and the styles, so a new binary's assets are never served from an old cache. */
  jsHash: string;
  cssHash: string;
}

const attr = (value: string) => value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function pageHtml(meta: PageMeta): string {
  const options = (values: readonly string[]) => values.map((v) => `<option value="${attr(v)}">${attr(v)}</option>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ecom console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/app.css?v=${meta.cssHash}">
<script src="/console/app.js?v=${meta.jsHash}" defer></script>
</head>
<body data-version="${attr(meta.version)}">
<a class="skip" href="#dlq">Skip to dead letters</a>
<header>
  <h1>ecom <span id="version" class="muted"></span></h1>
  <dl class="facts">
    <div><dt>Roles</dt><dd id="roles">…</dd></div>
    <div><dt>Transport</dt><dd><span id="transport">…</span> <span id="transport-ready" class="badge">…</span></dd></div>
    <div><dt>Store</dt><dd><span id="store">…</span> <span id="store-ready" class="badge">…</span></dd></div>
    <div><dt>Uptime</dt><dd id="uptime">…</dd></div>
    <div><dt>Live</dt><dd><span id="link" class="badge" role="status">connecting</span></dd></div>
  </dl>
</header>
<main>
  <section id="flow" aria-labelledby="flow-h">
    <h2 id="flow-h">Throughput, last 15 minutes <span class="muted">(messages/s per role)</span></h2>
    <div id="chart" class="chart" role="img" aria-label="Messages per second per role over the last 15 minutes"></div>
    <dl class="facts numbers">
      <div><dt>Outbox pending</dt><dd id="outbox-pending">…</dd></div>
      <div><dt>Outbox sent</dt><dd id="outbox-sent">…</dd></div>
      <div><dt>Produce→store p50</dt><dd id="p50">…</dd></div>
      <div><dt>Produce→store p99</dt><dd id="p99">…</dd></div>
      <div><dt>Dead letters pending</dt><dd id="dlq-pending">…</dd></div>
    </dl>
  </section>
  <section id="counters-section" aria-labelledby="counters-h">
    <h2 id="counters-h">Counters per role</h2>
    <div class="scroll" tabindex="0" role="region" aria-label="Counters per role">
      <table id="counters"><thead><tr><th scope="col">Role</th><th scope="col">msg/s</th><th scope="col">Received</th><th scope="col">Processed</th><th scope="col">Duplicates</th><th scope="col">Invalid</th><th scope="col">Dead-lettered</th><th scope="col">Failed</th><th scope="col">Other</th></tr></thead><tbody></tbody></table>
    </div>
  </section>
  <section id="dlq" aria-labelledby="dlq-h">
    <h2 id="dlq-h">Dead letters</h2>
    <form id="dlq-filters" class="row">
      <label>Status <select id="dlq-status" name="status"><option value="all">all</option>${options(meta.statuses)}</select></label>
      <label>Reason <select id="dlq-reason" name="reason"><option value="">any</option>${options(meta.reasons)}</select></label>
      <button type="submit">Show</button>
      <button type="button" id="dlq-replay-all">Replay all pending</button>
    </form>
    <p id="dlq-message" class="message" role="status" aria-live="polite"></p>
    <div class="scroll" tabindex="0" role="region" aria-label="Dead letters">
      <table id="dlq-table"><thead><tr><th scope="col">Id</th><th scope="col">Reason</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last seen</th><th scope="col">Actions</th></tr></thead><tbody></tbody></table>
    </div>
    <div class="row">
      <span id="dlq-total" class="muted"></span>
      <button type="button" id="dlq-first">First page</button>
      <button type="button" id="dlq-next">Next page</button>
    </div>
    <article id="dlq-detail" hidden aria-labelledby="dlq-detail-h">
      <h3 id="dlq-detail-h">Dead letter <code id="dlq-detail-id"></code></h3>
      <dl class="facts" id="dlq-detail-facts"></dl>
      <h4>Errors and details</h4>
      <pre id="dlq-detail-details"></pre>
      <h4>Original message <span class="muted">(as received, card numbers masked)</span></h4>
      <pre id="dlq-detail-original"></pre>
      <div class="row">
        <button type="button" id="dlq-detail-replay">Replay</button>
        <button type="button" id="dlq-detail-discard">Discard</button>
        <button type="button" id="dlq-detail-close">Close</button>
      </div>
    </article>
  </section>
  <section id="orders" aria-labelledby="orders-h">
    <h2 id="orders-h">Order lookup</h2>
    <form id="order-form" class="row">
      <label>Order id <input id="order-id" name="order_id" inputmode="numeric" pattern="[0-9]+" required autocomplete="off"></label>
      <button type="submit">Look up</button>
    </form>
    <p id="order-message" class="message" role="status" aria-live="polite"></p>
    <div class="split">
      <dl id="order-fact" class="facts"></dl>
      <dl id="order-payment" class="facts"></dl>
    </div>
  </section>
  <section id="analytics" aria-labelledby="analytics-h">
    <h2 id="analytics-h">Analytics</h2>
    <p id="analytics-note" class="muted"></p>
    <dl class="facts numbers">
      <div><dt>Orders</dt><dd id="an-orders">…</dd></div>
      <div><dt>Revenue</dt><dd id="an-revenue">…</dd></div>
      <div><dt>Average order</dt><dd id="an-aov">…</dd></div>
    </dl>
    <h3>Orders and revenue per minute</h3>
    <div id="minutes-chart" class="chart small" role="img" aria-label="Orders and revenue per minute"></div>
    <div class="split">
      <div>
        <h3>Top items</h3>
        <div class="scroll" tabindex="0" role="region" aria-label="Top items">
          <table id="top-items"><thead><tr><th scope="col">Item</th><th scope="col">Orders</th><th scope="col">Quantity</th><th scope="col">Revenue</th></tr></thead><tbody></tbody></table>
        </div>
      </div>
      <div>
        <h3>Orders by status</h3>
        <table id="status-counts"><thead><tr><th scope="col">Status</th><th scope="col">Orders</th></tr></thead><tbody></tbody></table>
      </div>
    </div>
  </section>
</main>
<dialog id="token-dialog" aria-labelledby="token-h">
  <form method="dialog" id="token-form">
    <h2 id="token-h">Admin token</h2>
    <p id="token-why">This ecom was started with --admin-token: actions need it. It is kept in this page's memory only.</p>
    <label>Token <input id="token-input" type="password" autocomplete="off" required></label>
    <div class="row">
      <button type="submit" value="ok" id="token-ok">Use token</button>
      <button type="button" id="token-cancel">Cancel</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;
}
