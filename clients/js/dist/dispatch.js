/**
 * Incoming frames, each to what it is about: run events to their run (replays, at or below
 * the last `seq` delivered, dropped), `session` frames to the request they answer and to their
 * session, `resumed` and errors to the run or request they name.
 */
import { AuthenticationError, errorFromCode } from "./errors.js";
import { runEvent } from "./wire.js";
/** Events that end a session on the server. */
const SESSION_ENDS = new Set(["closed", "expired", "shutdown", "cpu_limit", "lost"]);
export class Dispatcher {
    #link;
    #requests;
    #streams;
    #resumer;
    #events;
    constructor(link, requests, streams, resumer, events) {
        this.#link = link;
        this.#requests = requests;
        this.#streams = streams;
        this.#resumer = resumer;
        this.#events = events;
    }
    /** One frame from the server (`pong` is the connection's own). */
    frame(frame) {
        switch (frame.type) {
            case "started":
            case "stdout":
            case "stderr":
            case "input_request":
            case "exit":
                return this.#onRunFrame(frame);
            case "resumed":
                return this.#resumer.runResumed(frame);
            case "session":
                return this.#onSessionFrame(frame);
            case "error":
                return this.#onError(frame);
            default:
                return;
        }
    }
    #onRunFrame(frame) {
        const seq = Number(frame.seq ?? 0);
        if (typeof frame.session === "string") {
            const session = this.#streams.sessions.get(frame.session);
            if (session) {
                // Session-wide seq: a replay of anything already delivered is dropped here.
                if (seq <= session.lastSeq)
                    return;
                session.lastSeq = seq;
                this.#resumer.afterReplay(session);
            }
        }
        const run = this.#streams.runs.get(String(frame.id));
        if (!run || run.sessionId !== (typeof frame.session === "string" ? frame.session : undefined))
            return;
        if (seq <= run.lastSeq)
            return;
        const event = runEvent(frame);
        if (!event)
            return;
        run.deliver(event);
        if (event.type === "exit")
            this.#streams.forget(run);
        else if (event.type === "started") {
            const log = this.#streams.logOf(run);
            if (log)
                this.#streams.flushLog(log);
            this.#streams.flushSignals(run);
        }
    }
    #onSessionFrame(frame) {
        const event = String(frame.event);
        const sessionId = String(frame.session);
        if (event === "created") {
            const op = this.#requests.take((candidate) => candidate.correlation !== undefined && candidate.correlation === frame.id);
            op?.resolve(frame);
            return;
        }
        if (event === "resumed") {
            const op = this.#requests.take((candidate) => candidate.action === "resume" && candidate.session?.id === sessionId);
            op?.resolve(frame);
            return;
        }
        const session = this.#streams.sessions.get(sessionId);
        if (!session)
            return;
        const seq = Number(frame.seq ?? 0);
        if (!SESSION_ENDS.has(event) && seq > 0) {
            if (seq <= session.lastSeq)
                return;
            session.lastSeq = seq;
            this.#resumer.afterReplay(session);
        }
        const action = event === "restarted" ? "restart_session" : SESSION_ENDS.has(event) ? "close_session" : undefined;
        const op = this.#requests.take((candidate) => candidate.action === action && candidate.session === session);
        op?.resolve(frame);
        if (SESSION_ENDS.has(event))
            this.#streams.sessionGone(session, event);
    }
    #onError(frame) {
        const code = String(frame.code ?? "internal_error");
        const id = typeof frame.id === "string" ? frame.id : undefined;
        const error = errorFromCode(code, String(frame.message ?? code), id === undefined ? {} : { id });
        if (code === "unauthorized" || code === "auth_timeout") {
            this.#link.shutdown(new AuthenticationError(code, `the server refused the API key (${error.message}): check the apiKey option`), true);
            return;
        }
        if (id !== undefined) {
            const run = this.#streams.runs.get(id);
            if (run)
                return this.#onRunError(run, error);
            // `create_session` echoes its correlation id; close, restart and resume name the session.
            const op = this.#requests.take((candidate) => candidate.correlation === id) ??
                this.#requests.take((candidate) => candidate.correlation === undefined && candidate.session?.id === id && candidate.sentEpoch === this.#link.epoch);
            if (op) {
                op.reject(error);
                return;
            }
        }
        else if (code !== "unavailable") {
            // Older servers answer session actions with id-less errors, in order.
            const op = this.#requests.take((candidate) => candidate.session !== undefined && candidate.sentEpoch === this.#link.epoch && candidate.correlation === undefined);
            if (op) {
                op.reject(error);
                return;
            }
        }
        if (this.#events.listenerCount("error") > 0)
            this.#events.emit("error", error);
    }
    #onRunError(run, error) {
        if (run.resumePending) {
            this.#resumer.runResumeFailed(run, error);
            return;
        }
        if (run.resent && error.code === "conflict") {
            // The execute re-sent after a reconnect had reached the server after all: it runs once.
            return;
        }
        if (!run.started) {
            // The execute was refused (unknown language, a limit, a bad field).
            run.fail(error);
            this.#streams.forget(run);
            return;
        }
        // A stdin or signal that came too late (the program had ended): nothing to do.
        if (this.#events.listenerCount("error") > 0)
            this.#events.emit("error", error);
    }
}
//# sourceMappingURL=dispatch.js.map