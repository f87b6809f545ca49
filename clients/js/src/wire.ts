/**
 * Wire frames: building client frames and turning server frames into `RunEvent`s. Field names
 * on the wire are snake_case (docs/protocol.md, and the generated types of `protocol.ts`); the
 * SDK's are camelCase.
 */

import type * as wire from "./protocol.js";
import { fromBase64, wireFile } from "./session.js";
import type { ExecuteOptions, ExitInfo, RunEvent, RunStatus, SessionExecuteOptions } from "./types.js";

/**
 * A message as received: the fields of `T` by name, each one unchecked until it is read (a
 * server may omit fields, or be older or newer than this SDK). Reading a field `T` lacks does
 * not compile, so a renamed wire field shows up here.
 */
export type Received<T> = { [K in keyof T]?: unknown };

/** One server frame as received: `type` says which one it is; the rest is `Received`. */
type ReceivedFrame<M extends { type: string }> = M extends unknown ? { type: M["type"] } & Received<Omit<M, "type">> : never;

/** A server frame, loosely typed: fields are checked where they are used. */
export type ServerFrame = ReceivedFrame<wire.ServerMessage>;

/** A frame of one type (`ServerFrameOf<"exit">`). */
export type ServerFrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** The frames of a run's events. */
export type RunFrame = ServerFrameOf<"started" | "stdout" | "stderr" | "input_request" | "exit">;

/** The `execute` frame of a streamed run. */
export function executeFrame(id: string, options: ExecuteOptions | SessionExecuteOptions, session?: string): wire.ClientExecute {
  const frame: wire.ClientExecute = { action: "execute", id, stream: true };
  if (options.language !== undefined) frame.language = options.language;
  if (session !== undefined) frame.session = session;
  if (options.code !== undefined) frame.code = options.code;
  if (options.files !== undefined) frame.files = options.files.map(wireFile);
  if (options.stdin !== undefined) frame.stdin = options.stdin;
  if (options.args !== undefined) frame.args = options.args;
  if (options.compilerArgs !== undefined) frame.compiler_args = options.compilerArgs;
  if (options.version !== undefined) frame.version = options.version;
  if (options.limits !== undefined) frame.limits = options.limits;
  if (options.timeout !== undefined) frame.timeout = options.timeout;
  return frame;
}

const decoder = new TextDecoder();

/** The event of a run frame (`started`, `stdout`, `stderr`, `input_request`, `exit`). */
export function runEvent(frame: RunFrame): RunEvent | undefined {
  const id = String(frame.id);
  const seq = Number(frame.seq ?? 0);
  const session = typeof frame.session === "string" ? { session: frame.session } : {};
  switch (frame.type) {
    case "started":
      return { type: "started", id, language: String(frame.language ?? ""), version: String(frame.version ?? ""), seq, ...session };
    case "stdout":
    case "stderr": {
      const raw = String(frame.data ?? "");
      const stage = frame.stage === "compile" ? { stage: "compile" as const } : {};
      if (frame.encoding === "base64") {
        const bytes = fromBase64(raw);
        return { type: frame.type, id, data: decoder.decode(bytes), bytes, seq, ...stage, ...session };
      }
      return { type: frame.type, id, data: raw, seq, ...stage, ...session };
    }
    case "input_request":
      return { type: "input_request", id, prompt: String(frame.prompt ?? ""), password: frame.password === true, seq, ...session };
    case "exit":
      return { type: "exit", id, seq, ...exitInfo(frame), ...session };
    default:
      return undefined;
  }
}

/** The exit figures of an `exit` (or `result`) frame. */
export function exitInfo(frame: Received<wire.ExitEvent> | Received<wire.Result>): ExitInfo {
  const info: ExitInfo = {
    exitCode: typeof frame.exit_code === "number" ? frame.exit_code : null,
    signal: typeof frame.signal === "string" ? frame.signal : null,
    status: String(frame.status ?? "internal_error") as RunStatus,
    executionTime: Number(frame.execution_time ?? 0),
    compileTime: Number(frame.compile_time ?? 0),
    cached: frame.cached === true,
    cpuTime: Number(frame.cpu_time ?? 0),
    memory: Number(frame.memory ?? 0),
    truncated: frame.truncated === true,
  };
  if (typeof frame.message === "string") info.message = frame.message;
  return info;
}

/** Text of a message event's data (a string in browsers; ws may hand over bytes). */
export function frameText(data: unknown): string | undefined {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return decoder.decode(data as ArrayBuffer);
  if (Array.isArray(data)) {
    // ws's fragmented messages: an array of byte chunks.
    return data.map((chunk) => decoder.decode(chunk as ArrayBuffer, { stream: true })).join("") + decoder.decode();
  }
  return undefined;
}

/** A random unique id (run ids, correlation ids). */
export function randomId(): string {
  const crypto = globalThis.crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  // Old browsers in an insecure context lack randomUUID: 128 random bits will do.
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
