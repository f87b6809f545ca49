/** The HTTP side: URLs derived from the socket URL, and JSON or bytes over `fetch`. */

import { errorFromCode, RunnelError } from "./errors.js";
import type { HttpError } from "./protocol.js";
import type { Received } from "./wire.js";

/** The WebSocket URL and the HTTP base of a server, from either form. */
export function serverUrls(input: string): { ws: string; http: string } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new RunnelError("bad_request", `invalid url \`${input}\`: give ws://HOST:PORT/ws or http://HOST:PORT`);
  }
  const secure = url.protocol === "wss:" || url.protocol === "https:";
  if (!["ws:", "wss:", "http:", "https:"].includes(url.protocol)) {
    throw new RunnelError("bad_request", `unsupported scheme in url \`${input}\`: use ws, wss, http or https`);
  }
  const isSocket = url.protocol === "ws:" || url.protocol === "wss:";
  let path = url.pathname.replace(/\/+$/, "");
  let basePath: string;
  if (isSocket) {
    if (path === "") path = "/ws";
    basePath = path.endsWith("/ws") ? path.slice(0, -3) : path;
  } else {
    basePath = path;
    path = `${path}/ws`;
  }
  const host = url.host;
  return {
    ws: `${secure ? "wss" : "ws"}://${host}${path}${url.search}`,
    http: `${secure ? "https" : "http"}://${host}${basePath}`,
  };
}

export type Accept = "json" | "bytes" | "none";

/** One HTTP call with Bearer auth; errors become `RunnelError`s with the server's code. */
export async function request<T>(
  fetcher: typeof fetch,
  base: string,
  apiKey: string,
  method: string,
  path: string,
  body?: unknown,
  accept: Accept = "json",
): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${apiKey}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetcher(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (cause) {
    throw new RunnelError("connection_failed", `${method} ${base}${path} failed: ${String(cause)}; is the server up?`, { cause });
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    let code = "http_error";
    let message = text || response.statusText;
    try {
      const parsed = JSON.parse(text) as Received<HttpError>;
      if (typeof parsed.error === "string" && parsed.error) code = parsed.error;
      if (typeof parsed.message === "string" && parsed.message) message = parsed.message;
    } catch {
      // Not JSON: keep the text.
    }
    throw errorFromCode(code, `${method} ${path}: ${message} (HTTP ${response.status})`, { status: response.status });
  }
  if (accept === "bytes") return new Uint8Array(await response.arrayBuffer()) as T;
  if (accept === "none" || response.status === 204) {
    await response.arrayBuffer().catch(() => undefined);
    return undefined as T;
  }
  return (await response.json()) as T;
}
