// The Cassandra store and what the benches and tests use of its batching and client options.
export { createCassandraStore } from "./store.ts";
export { cassandraClientOptions, type StoreLogger } from "./client.ts";
export { replicaBatches, replicaChunks, replicaOf, type Routed } from "./batches.ts";
export { keyBytes } from "./rows.ts";
export { KNOWN_ORDERS } from "./facts.ts";
