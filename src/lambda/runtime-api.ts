// The Lambda Runtime API client: next invocation, its response or error, and the init error (2018-06-01 API).

export interface Invocation {
  requestId: string;
  /** Epoch milliseconds by which the response must be posted. */
  deadlineMs: number;
  /** The event as sent, unparsed. */
  body: string;
}

/** What Lambda shows as errorType / errorMessage (and in the Lambda-Runtime-Function-Error-Type header). */
export interface RuntimeErrorBody {
  errorType: string;
  errorMessage: string;
}

/** The Runtime API is unreachable or answered what a runtime cannot go on from. */
export class RuntimeApiError extends Error {
  override name = "RuntimeApiError";
}

export class RuntimeApi {
  private readonly base: string;

  /** `address` is AWS_LAMBDA_RUNTIME_API as Lambda sets it: host:port. */
  constructor(address: string) {
    this.base = `http://${address}/2018-06-01/runtime`;
  }

  /** Waits for the next invocation (Lambda freezes the process meanwhile; the emulator holds the request open). */
  async next(): Promise<Invocation> {
    // No idle limit: between invocations the request is held open for as long as nothing arrives.
    const res = await this.call("GET", "/invocation/next", undefined, { timeout: false });
    const requestId = res.headers.get("lambda-runtime-aws-request-id");
    if (!requestId) throw new RuntimeApiError("Runtime API: invocation without a Lambda-Runtime-Aws-Request-Id header");
    const deadline = Number(res.headers.get("lambda-runtime-deadline-ms"));
    const deadlineMs = Number.isFinite(deadline) && deadline > 0 ? deadline : Date.now() + 60_000;
    return { requestId, deadlineMs, body: await res.text() };
  }

  async respond(requestId: string, result: unknown): Promise<void> {
    await this.call("POST", `/invocation/${encodeURIComponent(requestId)}/response`, JSON.stringify(result));
  }

  async fail(requestId: string, error: RuntimeErrorBody): Promise<void> {
    const path = `/invocation/${encodeURIComponent(requestId)}/error`;
    await this.call("POST", path, JSON.stringify(error), {}, error.errorType);
  }

  /** Reported once, before exiting, when the function cannot start (a bad setting, a store it cannot reach). */
  async initError(error: RuntimeErrorBody): Promise<void> {
    await this.call("POST", "/init/error", JSON.stringify(error), {}, error.errorType);
  }

  private async call(
    method: string,
    path: string,
    body?: string,
    extra: { timeout?: boolean } = {},
    errorType?: string,
  ): Promise<Response> {
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
    if (errorType) headers["lambda-runtime-function-error-type"] = errorType;
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, body, headers, ...extra });
    } catch (error) {
      throw new RuntimeApiError(`Runtime API ${method} ${path}: ${(error as Error).message}`, { cause: error });
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      throw new RuntimeApiError(`Runtime API ${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    }
    return res;
  }
}
