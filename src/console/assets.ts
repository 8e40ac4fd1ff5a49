// The console's assets: embedded in the binary by scripts/build.ts, or bundled from source once when run with bun.
import { createHash } from "node:crypto";
import type { Bundle } from "./bundle.ts";

/** Set by scripts/build.ts once it has written the bundle to .build/console/. */
declare const ECOM_CONSOLE_BUNDLED: boolean | undefined;

export interface Assets extends Bundle {
  jsHash: string;
  cssHash: string;
}

let loaded: Promise<Assets> | null = null;

async function load(): Promise<Assets> {
  let bundle: Bundle;
  if (typeof ECOM_CONSOLE_BUNDLED !== "undefined" && ECOM_CONSOLE_BUNDLED) {
    const [js, css] = await Promise.all([import("../../.build/console/app.js.txt"), import("../../.build/console/app.css.txt")]);
    bundle = { js: js.default, css: css.default };
  } else {
    bundle = await (await import("./bundle.ts")).bundleConsole();
  }
  const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 12);
  return { ...bundle, jsHash: hash(bundle.js), cssHash: hash(bundle.css) };
}

export function consoleAssets(): Promise<Assets> {
  loaded ??= load().catch((error) => {
    loaded = null;
    throw error;
  });
  return loaded;
}
