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
export declare class Session {
    #private;
    /** The session id. */
    readonly id: string;
    /** The language id. */
    readonly language: string;
    /** Services for the terminal (`/stream/session/:id/pty?app=`): `shell`, and the REPL. */
    readonly services: string[];
    /** @internal the highest session-wide `seq` delivered. */
    lastSeq: number;
    /** @internal the socket generation that resumed or follows the session. */
    readyEpoch: number;
    /** @internal the session's stdin writes, numbered per session. */
    readonly stdin: StdinLog;
    /** @internal runs of this session not ended yet. */
    readonly runs: Set<Run>;
    /** @internal */
    closed: boolean;
    /** @internal the newest `seq` at the last `resumed`, until the replay reached it. */
    replayUntil: number | undefined;
    /** @internal use `client.createSession`. */
    constructor(host: SessionHost, id: string, language: string, services: string[], seq: number);
    /** Run code in the session; state from earlier runs is there. */
    execute(options: SessionExecuteOptions): Run;
    /** A fresh interpreter (the running execute is killed; files stay). */
    restart(): Promise<void>;
    /** Close the session and free its sandbox. Closing a session that is already gone succeeds. */
    close(): Promise<void>;
    /** Interrupt the running execute (SIGINT), over HTTP. Resolves with whether one was running. */
    interrupt(): Promise<boolean>;
    /** The session as the server sees it now. */
    info(): Promise<SessionInfo>;
    /** Write files under the session's work directory (`/work`, the cwd of every execute). */
    uploadFiles(files: FileSpec[]): Promise<void>;
    /** The regular files under the work directory. */
    listFiles(): Promise<FileEntry[]>;
    /** The bytes of one file (`name` relative to the work directory). */
    downloadFile(name: string): Promise<Uint8Array>;
}
/** A file as the wire wants it: bytes go as base64. */
export declare function wireFile(file: FileSpec): wire.FileSpec;
/** Base64 of bytes, without Node's Buffer (browsers have `btoa`, Node 20 too). */
export declare function toBase64(bytes: Uint8Array): string;
/** Bytes of base64. */
export declare function fromBase64(text: string): Uint8Array;
//# sourceMappingURL=session.d.ts.map