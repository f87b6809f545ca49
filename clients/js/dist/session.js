/**
 * `Session`: a long-lived sandbox with state (variables, imports, files) on the server. Its
 * runs stream on the client's socket; after a reconnect the client resumes the session from
 * the last `seq` it delivered, so a run in flight goes on as one continuous stream.
 */
import { StdinLog } from "./run.js";
export class Session {
    /** The session id. */
    id;
    /** The language id. */
    language;
    /** Services for the terminal (`/stream/session/:id/pty?app=`): `shell`, and the REPL. */
    services;
    /** @internal the highest session-wide `seq` delivered. */
    lastSeq;
    /** @internal the socket generation that resumed or follows the session. */
    readyEpoch = -1;
    /** @internal the session's stdin writes, numbered per session. */
    stdin = new StdinLog();
    /** @internal runs of this session not ended yet. */
    runs = new Set();
    /** @internal */
    closed = false;
    /** @internal the newest `seq` at the last `resumed`, until the replay reached it. */
    replayUntil;
    #host;
    /** @internal use `client.createSession`. */
    constructor(host, id, language, services, seq) {
        this.#host = host;
        this.id = id;
        this.language = language;
        this.services = services;
        this.lastSeq = seq;
    }
    /** Run code in the session; state from earlier runs is there. */
    execute(options) {
        return this.#host.sessionExecute(this, options);
    }
    /** A fresh interpreter (the running execute is killed; files stay). */
    restart() {
        return this.#host.sessionRequest(this, "restart_session");
    }
    /** Close the session and free its sandbox. Closing a session that is already gone succeeds. */
    close() {
        return this.#host.sessionRequest(this, "close_session");
    }
    /** Interrupt the running execute (SIGINT), over HTTP. Resolves with whether one was running. */
    async interrupt() {
        const reply = await this.#host.http("POST", this.#path("/interrupt"), {});
        return reply.interrupted;
    }
    /** The session as the server sees it now. */
    info() {
        return this.#host.http("GET", this.#path(""));
    }
    /** Write files under the session's work directory (`/work`, the cwd of every execute). */
    async uploadFiles(files) {
        const body = { files: files.map(wireFile) };
        await this.#host.http("POST", this.#path("/files"), body, "none");
    }
    /** The regular files under the work directory. */
    async listFiles() {
        const reply = await this.#host.http("GET", this.#path("/files"));
        return reply.files;
    }
    /** The bytes of one file (`name` relative to the work directory). */
    downloadFile(name) {
        const path = name.split("/").map(encodeURIComponent).join("/");
        return this.#host.http("GET", this.#path(`/files/${path}`), undefined, "bytes");
    }
    #path(rest) {
        return `/api/v1/sessions/${encodeURIComponent(this.id)}${rest}`;
    }
}
/** A file as the wire wants it: bytes go as base64. */
export function wireFile(file) {
    if (typeof file.content === "string") {
        return file.encoding ? { name: file.name, content: file.content, encoding: file.encoding } : { name: file.name, content: file.content };
    }
    return { name: file.name, content: toBase64(file.content), encoding: "base64" };
}
/** Base64 of bytes, without Node's Buffer (browsers have `btoa`, Node 20 too). */
export function toBase64(bytes) {
    let binary = "";
    const step = 0x8000;
    for (let index = 0; index < bytes.length; index += step) {
        binary += String.fromCharCode(...bytes.subarray(index, index + step));
    }
    return btoa(binary);
}
/** Bytes of base64. */
export function fromBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let index = 0; index < binary.length; index += 1)
        bytes[index] = binary.charCodeAt(index);
    return bytes;
}
//# sourceMappingURL=session.js.map