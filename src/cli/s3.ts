// S3 for `ecom produce`: read a file from s3://bucket/key as a stream, and archive the raw input by date and sha256.
import { createReadStream } from "node:fs";
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { AwsConfig } from "../config/types.ts";
import { ConfigError } from "../config/load.ts";

export interface S3Location {
  bucket: string;
  key: string;
}

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/;

export const isS3Url = (text: string) => text.startsWith("s3://");

/** Parses s3://bucket/key; `what` names the flag in the error. */
export function parseS3Url(text: string, what: string): S3Location {
  const m = S3_URL.exec(text);
  if (!m) throw new ConfigError(`${what}: ${JSON.stringify(text)} is not valid; accepted: s3://BUCKET/KEY (a bucket name of 3-63 lowercase letters, digits, . and -)`);
  return { bucket: m[1]!, key: m[2]! };
}

export const s3Url = (l: S3Location) => `s3://${l.bucket}/${l.key}`;

/** A client on --aws-s3-endpoint (else --aws-endpoint); path-style addressing there, as local servers need. */
export function s3Client(config: Readonly<AwsConfig>): S3Client {
  return new S3Client({
    region: config.region,
    endpoint: config.s3Endpoint,
    forcePathStyle: config.s3Endpoint !== undefined,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
}

/** What a HEAD answer without a body (so without an error code) stands for. */
const BARE_STATUS: Record<number, string> = { 403: "Forbidden", 404: "NotFound" };

/** The service's name for a failure: its error code, or for a bodiless answer the status's name. */
function errorName(error: unknown): string {
  const name = (error as { name?: string }).name ?? "Error";
  const status = (error as S3ServiceException).$metadata?.httpStatusCode;
  return (name === "Unknown" || name === "UnknownError") && status && BARE_STATUS[status] ? BARE_STATUS[status] : name;
}

/** The service's words for a failed call: "NoSuchKey: The specified key does not exist. (HTTP 404)" or the network error. */
export function s3ErrorText(error: unknown): string {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata?.httpStatusCode;
    const name = errorName(error);
    const message = error.message && error.message !== error.name && error.message !== "UnknownError" ? `: ${error.message}` : "";
    return `${name}${message}${status ? ` (HTTP ${status})` : ""}`;
  }
  const e = error as { name?: string; code?: string; message?: string };
  return [e.code ?? e.name, e.message].filter(Boolean).join(": ");
}

/** Refusals that are the caller's to fix (the object, bucket or permission): exit 2 like a missing local file. */
const CALLER_ERRORS = new Set(["NoSuchKey", "NoSuchBucket", "AccessDenied", "NotFound", "Forbidden", "InvalidObjectState", "InvalidBucketName"]);

function failure(what: string, url: string, error: unknown): Error {
  const text = `${what}: cannot ${what === "--archive" ? "archive to" : "read"} ${url}: ${s3ErrorText(error)}`;
  return CALLER_ERRORS.has(errorName(error)) ? new ConfigError(text) : new Error(text, { cause: error });
}

export interface S3Object {
  chunks: AsyncIterable<Uint8Array>;
  etag?: string;
  size?: number;
}

/** Opens an object as a stream of byte chunks (nothing is held beyond the chunk being read). */
export async function openObject(client: S3Client, at: S3Location): Promise<S3Object> {
  try {
    const res = await client.send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key }));
    if (!res.Body) throw new Error("the answer has no body");
    return { chunks: res.Body as AsyncIterable<Uint8Array>, etag: res.ETag, size: res.ContentLength };
  } catch (error) {
    throw failure("--from-file", s3Url(at), error);
  }
}

/** Where a file goes under an archive prefix: PREFIX/YYYY-MM-DD/SHA256.EXT, the date being the UTC day of ingest. */
export function archiveKey(prefix: string, sha256: string, now: Date, sourceName: string): string {
  const dir = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  const ext = /\.(ndjson|jsonl|json)$/i.exec(sourceName)?.[0].toLowerCase() ?? "";
  return `${dir}${now.toISOString().slice(0, 10)}/${sha256}${ext}`;
}

export type ArchiveSource = { kind: "file"; path: string } | { kind: "s3"; at: S3Location; etag?: string };

/**
 * Keeps the raw input at `at` unless it is there already (HeadObject first: the key holds the sha256, so an object
 * there is this very content). A local file goes up with lib-storage's Upload (multipart past 8 MiB, parts read from
 * the file as they go); an S3 source is copied on the server, only if it still has the ETag we read.
 */
export async function archive(client: S3Client, at: S3Location, source: ArchiveSource, metadata: Record<string, string>): Promise<"uploaded" | "exists"> {
  const url = s3Url(at);
  try {
    await client.send(new HeadObjectCommand({ Bucket: at.bucket, Key: at.key }));
    return "exists";
  } catch (error) {
    const status = (error as S3ServiceException).$metadata?.httpStatusCode;
    if (status !== 404 || (error as Error).name === "NoSuchBucket") throw failure("--archive", url, error);
  }
  const meta = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, encodeURIComponent(v)]));
  try {
    if (source.kind === "s3") {
      const from = `${source.at.bucket}/${source.at.key.split("/").map(encodeURIComponent).join("/")}`;
      await client.send(new CopyObjectCommand({ Bucket: at.bucket, Key: at.key, CopySource: from, CopySourceIfMatch: source.etag, Metadata: meta, MetadataDirective: "REPLACE" }));
    } else {
      const upload = new Upload({
        client,
        params: { Bucket: at.bucket, Key: at.key, Body: createReadStream(source.path), Metadata: meta, ContentType: at.key.endsWith(".json") ? "application/json" : "application/x-ndjson" },
        partSize: 8 * 1024 * 1024,
        queueSize: 2,
        leavePartsOnError: false,
      });
      await upload.done();
    }
    return "uploaded";
  } catch (error) {
    throw failure("--archive", url, error);
  }
}
