import { PubSub } from "@google-cloud/pubsub";
const ps = new PubSub({ projectId: "p", apiEndpoint: "127.0.0.1:8099", emulatorMode: true } as any);
const sub = ps.subscription("nope");
const t0 = Date.now();
sub.on("debug", (m: any) => console.log(((Date.now() - t0) / 1000).toFixed(1), "debug", m.message, m.error?.code, String(m.error?.details ?? "").slice(0, 120)));
sub.on("error", (e: any) => console.log("error", e.code, e.message.slice(0, 100)));
sub.on("close", () => console.log("close"));
sub.on("message", () => {});
setTimeout(async () => { await sub.close(); await ps.close(); process.exit(0); }, 15000);
