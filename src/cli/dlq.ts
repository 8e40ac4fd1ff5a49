// `ecom dlq list|show|replay|discard` against a running instance's HTTP API.
import type { Config } from "../config/types.ts";
import { ConfigError } from "../config/load.ts";

export async function dlqCommand(config: Readonly<Config>, args: string[], options: Record<string, string | boolean | undefined>): Promise<number> {
  const base = String(options.url ?? `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.port}`).replace(/\/$/, "");
  const headers: Record<string, string> = config.adminToken ? { authorization: `Bearer ${config.adminToken}` } : {};
  const [action, id] = args;
  const call = async (method: string, path: string) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { method, headers });
    } catch (error) {
      console.error(`ecom: cannot reach ${base}: ${(error as Error).message} (is ecom running? set --url)`);
      return 1;
    }
    const text = await res.text();
    console.log(text);
    return res.ok ? 0 : 1;
  };
  const enc = encodeURIComponent;
  switch (action) {
    case "list": {
      const q = new URLSearchParams();
      for (const k of ["status", "reason", "limit"] as const) if (typeof options[k] === "string") q.set(k, options[k] as string);
      return call("GET", `/dlq${q.size ? `?${q}` : ""}`);
    }
    case "show":
      if (!id) throw new ConfigError("dlq show needs an ID");
      return call("GET", `/dlq/${enc(id)}`);
    case "replay":
      if (options.all) return call("POST", `/dlq/replay${typeof options.reason === "string" ? `?reason=${enc(options.reason)}` : ""}`);
      if (!id) throw new ConfigError("dlq replay needs an ID, or --all");
      return call("POST", `/dlq/${enc(id)}/replay`);
    case "discard":
      if (!id) throw new ConfigError("dlq discard needs an ID");
      return call("DELETE", `/dlq/${enc(id)}`);
    default:
      throw new ConfigError(`dlq ${action ?? ""}: use dlq list | show ID | replay ID | replay --all | discard ID`);
  }
}
