// Whether enough replicas are up for the configured consistency levels, read off the driver's host state (/readyz).
import type cassandra from "cassandra-driver";
import { StoreError } from "../types.ts";

/** What the pipeline's requests need: the consistency names (as configured) and the local data center. */
export interface ReplicaNeeds {
  readConsistency: string;
  writeConsistency: string;
  localDc: string;
}

/** Per level: whether only the local DC's replicas count, and how many of those `n` must answer. */
const LEVELS: Record<string, { local: boolean; need(n: number): number }> = {
  ANY: { local: false, need: () => 1 },
  ONE: { local: false, need: () => 1 },
  TWO: { local: false, need: () => 2 },
  THREE: { local: false, need: () => 3 },
  QUORUM: { local: false, need: (n) => Math.floor(n / 2) + 1 },
  ALL: { local: false, need: (n) => n },
  LOCAL_ONE: { local: true, need: () => 1 },
  LOCAL_QUORUM: { local: true, need: (n) => Math.floor(n / 2) + 1 },
  // Counted as the local DC's quorum: the only DC this check sees by name.
  EACH_QUORUM: { local: true, need: (n) => Math.floor(n / 2) + 1 },
};

/** A configured level by name (names are checked when the client is built; an unknown one counts as ONE). */
const levelOf = (consistency: string) => LEVELS[consistency.toUpperCase()] ?? LEVELS.ONE!;

/** Replicas of one partition that must answer at `consistency` when the local DC holds `local` of the `total`. */
export function replicasNeeded(consistency: string, local: number, total: number): number {
  const level = levelOf(consistency);
  return level.need(level.local ? local : total);
}

/** The routing key of the bigint partition key -1 (the row /readyz reads): its replicas stand for any partition's. */
const PROBE_KEY = Buffer.from("ffffffffffffffff", "hex");

/**
 * Throws a retryable StoreError naming the count when fewer replicas are up (as the driver sees them: a node whose
 * connections closed is down at once, long before the cluster's gossip convicts it) than the read or the write
 * consistency needs. A keyspace the driver has no metadata for yet passes: the reads that follow will tell.
 */
export function checkReplicasUp(client: cassandra.Client, keyspace: string, needs: ReplicaNeeds): void {
  let replicas: cassandra.Host[];
  try {
    replicas = client.getReplicas(keyspace, PROBE_KEY) ?? [];
  } catch {
    return;
  }
  if (replicas.length === 0) return;
  const local = replicas.filter((h) => h.datacenter === needs.localDc);
  for (const consistency of [needs.writeConsistency, needs.readConsistency]) {
    const need = replicasNeeded(consistency, local.length, replicas.length);
    const counted = (levelOf(consistency).local ? local : replicas).filter((h) => h.isUp()).length;
    if (counted < need) {
      const down = replicas.filter((h) => !h.isUp()).map((h) => h.address.split(":")[0]);
      throw new StoreError(
        `cassandra: ${counted} of ${replicas.length} replicas up (${down.join(", ")} down); ` +
          `${consistency.toUpperCase()} needs ${need}`,
        true,
      );
    }
  }
}
