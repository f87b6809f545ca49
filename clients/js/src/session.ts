/**
 * `Session`: a long-lived sandbox with state (variables, imports, files) on the server. Its
 * runs stream on the client's socket; after a reconnect the client resumes the session from
 * the last `seq` it delivered, so a run in flight goes on as one continuous stream.
 */

import type * as wire from "./protocol.js";
import type { Run } from "./run.js";
import { StdinLog } from "./run.js";
import type { FileEntry, FileSpec, SessionExecuteOptions, SessionInfo } from "./types.js";

/** What a session needs from its client. */
export interface SessionHost {
  sessionExecute(session: Session, options: SessionExecuteOptions): Run;
  sessionRequest(session: Session, action: "restart_session" | "close_session"): Promise<void>;
  http<T>(method: string, path: string, body?: unknown, accept?: "json" | "bytes" | "none"): Promise<T>;
}

export class Session {
  /** The session id. */
  readonly id: string;
  /** The language id. */
  readonly language: string;
  /** Services for the terminal (`/stream/session/:id/pty?app=`): `shell`, and the REPL. */
  readonly services: string[];

  /** @internal the highest session-wide `seq` delivered. */
  lastSeq: number;
  /** @internal the socket generation that resumed or follows the session. */
  readyEpoch = -1;
  /** @internal the session's stdin writes, numbered per session. */
  readonly stdin = new StdinLog();
  /** @internal runs of this session not ended yet. */
  readonly runs = new Set<Run>();
  /** @internal */
  closed = false;
  /** @internal the newest `seq` at the last `resumed`, until the replay reached it. */
  replayUntil: number | undefined;

  readonly #host: SessionHost;

  /** @internal use `client.createSession`. */
  constructor(host: SessionHost, id: string, language: string, services: string[], seq: number) {
    this.#host = host;
    this.id = id;
    this.language = language;
    this.services = services;
    this.lastSeq = seq;
  }

  /** Run code in the session; state from earlier runs is there. */
  execute(options: SessionExecuteOptions): Run {
    return this.#host.sessionExecute(this, options);
  }

  /** A fresh interpreter (the running execute is killed; files stay). */
  restart(): Promise<void> {
    return this.#host.sessionRequest(this, "restart_session");
  }

  /** Close the session and free its sandbox. Closing a session that is already gone succeeds. */
  close(): Promise<void> {
    return this.#host.sessionRequest(this, "close_session");
  }

  /** Interrupt the running execute (SIGINT), over HTTP. Resolves with whether one was running. */
  async interrupt(): Promise<boolean> {
    const reply = await this.#host.http<{ interrupted: boolean }>("POST", this.#path("/interrupt"), {});
    return reply.interrupted;
  }

  /** The session as the server sees it now. */
  info(): Promise<SessionInfo> {
    return this.#host.http<SessionInfo>("GET", this.#path(""));
  }

  /** Write files under the session's work directory (`/work`, the cwd of every execute). */
  async uploadFiles(files: FileSpec[]): Promise<void> {
    const body: wire.FilesUpload = { files: files.map(wireFile) };
    await this.#host.http<void>("POST", this.#path("/files"), body, "none");
  }

  /** The regular files under the work directory. */
  async listFiles(): Promise<FileEntry[]> {
    const reply = await this.#host.http<wire.FileList>("GET", this.#path("/files"));
    return reply.files;
  }

  /** The bytes of one file (`name` relative to the work directory). */
  downloadFile(name: string): Promise<Uint8Array> {
    const path = name.split("/").map(encodeURIComponent).join("/");
    return this.#host.http<Uint8Array>("GET", this.#path(`/files/${path}`), undefined, "bytes");
  }

  #path(rest: string): string {
    return `/api/v1/sessions/${encodeURIComponent(this.id)}${rest}`;
  }
}

/** A file as the wire wants it: bytes go as base64. */
export function wireFile(file: FileSpec): wire.FileSpec {
  if (typeof file.content === "string") {
    return file.encoding ? { name: file.name, content: file.content, encoding: file.encoding } : { name: file.name, content: file.content };
  }
  return { name: file.name, content: toBase64(file.content), encoding: "base64" };
}

/** Base64 of bytes, without Node's Buffer (browsers have `btoa`, Node 20 too). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000;
  for (let index = 0; index < bytes.length; index += step) {
    binary += String.fromCharCode(...bytes.subarray(index, index + step));
  }
  return btoa(binary);
}

/** Bytes of base64. */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}
