// The version string: injected by `bun build --define` into the binary; "dev" when run from source.
declare const ECOM_VERSION: string | undefined;
export const VERSION: string = typeof ECOM_VERSION === "string" ? ECOM_VERSION : "0.1.0-dev";
