/**
 * @runnel/client: the Runnel SDK for browsers and Node.js.
 *
 * This entry has no Node built-ins: it uses the global `WebSocket` (or the one passed as the
 * `WebSocket` option) and `fetch`. In Node 20, which has no global WebSocket, the package's
 * `node` export condition (also `@runnel/client/node`) supplies the `ws` package.
 *
 * # Layout
 * - `client.ts`: `RunnelClient`, which owns one of each of: `connection.ts` (the socket,
 *   authentication, pings, reconnection with backoff), `requests.ts` (requests awaiting a reply,
 *   and what waits while offline), `streams.ts` (runs and sessions in flight: executes, stdin,
 *   signals), `resume.ts` (resuming after a reconnect) and `dispatch.ts` (incoming frames).
 * - `run.ts`: `Run` (events, async iteration, result) and the numbered stdin log.
 * - `session.ts`: `Session` (executes, restart, close, files).
 * - `wire.ts`: frames to events; `http.ts`: the HTTP API; `errors.ts`: `RunnelError`s.
 * - `protocol.ts`: the wire messages as sent (snake_case), generated from crates/protocol by
 *   `cargo run -p runnel-codegen`: never edit it by hand. Exported as the `wire` namespace
 *   (`import type { wire } from "@runnel/client"`, then `wire.ServerMessage`, ...).
 * - `types.ts`: the public types (camelCase options, events and results; wire types re-exported
 *   where the SDK hands them over as they are: `LanguageInfo`, `Stats`, `SessionInfo`, ...).
 * - `latency.ts`, `backoff.ts`, `emitter.ts`: small helpers.
 */

export { DEFAULTS, RunnelClient } from "./client.js";
export {
  AuthenticationError,
  BadRequestError,
  ConnectionClosedError,
  LimitError,
  NotFoundError,
  ResumeGapError,
  RunnelError,
  ServerError,
  TimeoutError,
} from "./errors.js";
export { Run } from "./run.js";
export { Session } from "./session.js";
export { backoffDelay } from "./backoff.js";
export type * from "./types.js";
export type * as wire from "./protocol.js";
