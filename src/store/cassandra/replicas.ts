// Whether enough replicas are up for the configured consistency levels, read off the driver's host state (/readyz).
import type cassandra from "cassandra-driver";
import { StoreError } from "../types.ts";

/** What the pipeline's requests need: the consistency names (as configured) and the local data center. */
export interface ReplicaNeeds {
  readConsistency: string;
  writeConsistency: string;
  localDc: string;
}

/**
 * Replicas of one partition that must answer at `consistency` when the local DC holds `local` of the `total`
 * replicas. EACH_QUORUM is counted as the local DC's quorum (the only DC this check sees by name).
 */
export function replicasNeeded(consistency: string, local: number, total: number): number {
  switch (consistency.toUpperCase()) {
    case "ANY":
    case "ONE":
    case "LOCAL_ONE":
      return 1;
    case "TWO":
      return 2;
    case "THREE":
      return 3;
    case "QUORUM":
      return Math.floor(total / 2) + 1;
    case "LOCAL_QUORUM":
    case "EACH_QUORUM":
      return Math.floor(local / 2) + 1;
    case "ALL":
      return total;
    default:
      return 1;
  }
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
  const up = replicas.filter((h) => h.isUp());
  const localUp = local.filter((h) => h.isUp());
  for (const consistency of [needs.writeConsistency, needs.readConsistency]) {
    const need = replicasNeeded(consistency, local.length, replicas.length);
    const counted = /^(LOCAL_|EACH_)/i.test(consistency) ? localUp.length : up.length;
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
