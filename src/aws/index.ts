// What AWS backends share: error classification and client settings.
export * from "./client.ts";
export * from "./errors.ts";
