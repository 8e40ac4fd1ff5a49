// The console's calls to ecom's API. With --admin-token set, the token is asked once and kept in this page's memory only.
import { byId } from "./dom.ts";

/** Never written to storage or a URL: a reload asks again. */
let token: string | null = null;

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, readonly detail: string) {
    super(`${status} ${code}: ${detail}`);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as { error?: string; detail?: string } | null;
  return new ApiError(res.status, body?.error ?? "error", body?.detail ?? res.statusText);
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

/** Asks for the token in a modal dialog; null when cancelled. */
function askToken(why: string): Promise<string | null> {
  const dialog = byId<HTMLDialogElement>("token-dialog");
  const form = byId<HTMLFormElement>("token-form");
  const input = byId<HTMLInputElement>("token-input");
  byId("token-why").textContent = why;
  input.value = "";
  return new Promise((resolve) => {
    const done = (value: string | null) => {
      form.removeEventListener("submit", onSubmit);
      byId("token-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (event: Event) => {
      event.preventDefault();
      done(input.value || null);
    };
    const onCancel = (event: Event) => {
      event.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    byId("token-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
}

/** A POST or DELETE; on 401 asks for the token (once, or again if it was refused) and retries. */
export async function mutate<T>(method: "POST" | "DELETE", path: string): Promise<T> {
  for (;;) {
    const headers: Record<string, string> = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, { method, headers });
    if (res.ok) return (await res.json()) as T;
    const error = await errorOf(res);
    if (res.status !== 401) throw error;
    const why = token
      ? "The token was refused. Enter the --admin-token value ecom was started with."
      : "This ecom was started with --admin-token: actions need it. It is kept in this page's memory only.";
    const given = await askToken(why);
    if (!given) throw error;
    token = given;
  }
}
