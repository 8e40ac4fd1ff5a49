// DOM helpers for the console page: every value is set as text (textContent), never parsed as HTML.

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`console page: no element #${id}`);
  return found as T;
}

export function setText(id: string, text: string): void {
  const node = byId(id);
  if (node.textContent !== text) node.textContent = text;
}

/** An element with attributes and children; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: (Node | string | null)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  return node;
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export const fmtInt = (n: number | null | undefined) => (n == null ? "—" : integer.format(n));
export const fmtRate = (n: number | null | undefined) => (n == null ? "—" : decimal.format(n));
export const fmtMoney = (n: number | null | undefined) => (n == null ? "—" : money.format(n));
export const fmtMs = (n: number | null | undefined) => (n == null ? "—" : n >= 1000 ? `${decimal.format(n / 1000)} s` : `${integer.format(n)} ms`);

export function fmtUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

/** Pretty JSON when the text is JSON, the text as it is otherwise. */
export function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
