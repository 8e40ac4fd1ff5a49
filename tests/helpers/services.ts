// Gate for integration tests: a real server must answer; under CI=true a missing one fails, never skips.
import { connect } from "node:net";

export const SERVICES = {
  cassandra: { host: "127.0.0.1", port: Number(process.env.ECOM_CASSANDRA_PORT ?? 9042) },
  moto: { host: "127.0.0.1", port: Number(process.env.ECOM_MOTO_PORT ?? 5000) },
  pubsub: { host: "127.0.0.1", port: Number(process.env.ECOM_PUBSUB_PORT ?? 8085) },
} as const;
export type ServiceName = keyof typeof SERVICES;

function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Resolves true when the service answers. When it does not: under CI=true (or ECOM_REQUIRE_SERVICES=1) throws,
 * so the suite fails; otherwise returns false and the caller skips with the reason printed.
 */
export async function serviceAvailable(name: ServiceName): Promise<boolean> {
  const { host, port } = SERVICES[name];
  if (await portOpen(host, port)) return true;
  const reason = `${name} is not answering on ${host}:${port}; start it with: scripts/services start ${name}`;
  if (process.env.CI === "true" || process.env.ECOM_REQUIRE_SERVICES === "1") throw new Error(reason);
  console.warn(`SKIP: ${reason}`);
  return false;
}

export const moto = {
  endpoint: `http://${SERVICES.moto.host}:${SERVICES.moto.port}`,
  /** Clears every SNS/SQS resource on the moto server. */
  async reset(): Promise<void> {
    const res = await fetch(`${moto.endpoint}/moto-api/reset`, { method: "POST" });
    if (!res.ok) throw new Error(`moto reset answered ${res.status}`);
  },
};

export const pubsubEmulator = {
  host: `${SERVICES.pubsub.host}:${SERVICES.pubsub.port}`,
  async reset(): Promise<void> {
    const res = await fetch(`http://${pubsubEmulator.host}/reset`, { method: "POST" });
    if (!res.ok) throw new Error(`pubsub emulator reset answered ${res.status}`);
  },
};
