// Bundles the console's browser script and styles with Bun's bundler: into the binary at build time, from source on first request.
import { join } from "node:path";

export interface Bundle {
  js: string;
  css: string;
}

const ENTRY = join(import.meta.dir, "page", "console.ts");

export async function bundleConsole(): Promise<Bundle> {
  const result = await Bun.build({ entrypoints: [ENTRY], target: "browser", minify: true, sourcemap: "none" });
  if (!result.success) throw new Error(`console bundle failed: ${result.logs.map(String).join("\n")}`);
  let js = "";
  let css = "";
  for (const output of result.outputs) {
    if (output.path.endsWith(".css")) css += await output.text();
    else if (output.kind === "entry-point") js = await output.text();
  }
  if (!js) throw new Error("console bundle failed: no script came out");
  return { js, css };
}
