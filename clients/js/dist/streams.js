/**
 * Runs and sessions in flight, and what goes to them on the current socket: the execute that
 * starts a run, then its stdin writes and signals, each sent once the run can take it here
 * (see `#target`) and in order.
 */
import { errorFromCode } from "./errors.js";
export class Streams {
    /** Runs not ended yet, by id. */
    runs = new Map();
    /** Sessions not gone yet, by id. */
    sessions = new Map();
    #link;
    #requests;
    constructor(link, requests) {
        this.#link = link;
        this.#requests = requests;
    }
    /** A new run: its execute goes out now, or queued behind what waits for a socket. */
    start(run) {
        if (this.#link.closedError) {
            run.fail(this.#link.closedError);
            return;
        }
        this.runs.set(run.id, run);
        this.#link.start();
        if (this.#requests.ready)
            this.sendRun(run);
        else
            this.#requests.enqueue({ run });
    }
    sendRun(run) {
        if (run.done)
            return;
        if (!this.#link.send(run.frame)) {
            // The socket died under us: it goes out again with the next one.
            this.#requests.requeue({ run });
            return;
        }
        run.phase = "sent";
        run.sentEpoch = this.#link.epoch;
        run.readyEpoch = this.#link.epoch;
        const log = this.logOf(run);
        if (log)
            this.flushLog(log);
        this.flushSignals(run);
    }
    writeStdin(run, data, eof) {
        const log = this.logOf(run);
        if (!log)
            return;
        log.add(run, data, eof);
        this.flushLog(log);
    }
    sendSignal(run, signal) {
        run.pendingSignals.push(signal);
        this.flushSignals(run);
    }
    /** The stdin log a run's writes go in: its own (one-shot), or its session's. */
    logOf(run) {
        if (run.stdin)
            return run.stdin;
        return run.sessionId === undefined ? undefined : this.sessions.get(run.sessionId)?.stdin;
    }
    /** Send, in order, the writes of `log` the server may not have; stop at one that must wait. */
    flushLog(log) {
        for (const write of log.writes) {
            if (write.seq <= log.sentUpTo)
                continue;
            const target = this.#target(write.run);
            if (target === null)
                return;
            const frame = { action: "stdin", id: target, data: write.data, stdin_seq: write.seq };
            if (write.eof)
                frame.eof = true;
            if (!this.#link.send(frame))
                return;
            log.sentUpTo = write.seq;
        }
    }
    flushSignals(run) {
        for (;;) {
            const signal = run.pendingSignals[0];
            if (signal === undefined)
                return;
            const target = this.#target(run);
            if (target === null)
                return;
            if (!this.#link.send({ action: "signal", id: target, signal }))
                return;
            run.pendingSignals.shift();
        }
    }
    /** The run ended (or failed): nothing more goes to it. */
    forget(run) {
        this.runs.delete(run.id);
        if (run.sessionId !== undefined) {
            const session = this.sessions.get(run.sessionId);
            if (session) {
                session.runs.delete(run);
                session.stdin.forget(run);
                // A write of this run may have been holding back the writes of the next one.
                this.flushLog(session.stdin);
            }
        }
    }
    /** The session ended on the server (`event`): its runs fail with it. */
    sessionGone(session, event) {
        if (session.closed)
            return;
        session.closed = true;
        this.sessions.delete(session.id);
        this.#requests.forgetResumes(session);
        for (const run of [...session.runs]) {
            run.fail(errorFromCode("not_found", `session ${session.id} ${event}: run ${run.id} ended with it`, { id: run.id }));
            this.forget(run);
        }
    }
    /** The socket dropped: nothing past what the server acknowledged is known to have arrived. */
    dropped() {
        for (const run of this.runs.values()) {
            run.resumePending = false;
            run.stdin?.disconnected();
        }
        for (const session of this.sessions.values())
            session.stdin.disconnected();
    }
    /** Closed for good: every run fails with `error`. */
    failAll(error) {
        const runs = [...this.runs.values()];
        this.runs.clear();
        for (const run of runs) {
            run.fail(error);
            this.forget(run);
        }
    }
    /**
     * Where stdin and signals for `run` go on the current socket, or null if not yet: a one-shot
     * run once its execute went out here or it was resumed here; a session run by its own id on
     * the socket that started it, and by the session's id (its running execute) once the
     * session was resumed here and the run has started.
     */
    #target(run) {
        if (!this.#link.authenticated || run.done)
            return null;
        const epoch = this.#link.epoch;
        if (run.sessionId === undefined)
            return run.readyEpoch === epoch && !run.resumePending ? run.id : null;
        if (run.sentEpoch === epoch)
            return run.id;
        const session = this.sessions.get(run.sessionId);
        return session && session.readyEpoch === epoch && run.started ? session.id : null;
    }
}
//# sourceMappingURL=streams.js.map