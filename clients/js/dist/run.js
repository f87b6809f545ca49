/**
 * `Run`: one execution as the caller sees it. Events arrive once each and in order (the client
 * drops replays by `seq`), through callbacks (`run.on("stdout", ...)`), through async iteration
 * (`for await (const event of run)`), and as one awaitable `run.result`.
 */
import { Emitter } from "./emitter.js";
export class Run extends Emitter {
    /** The run id (client-chosen, unique). */
    id;
    /** The session the run belongs to, if any. */
    sessionId;
    /** Resolves with the whole outcome at `exit`; rejects if the run is lost. */
    result;
    /** @internal the frame that starts the run. */
    frame;
    /** @internal */
    phase = "queued";
    /** @internal the socket generation the execute was sent on, or that resumed the run. */
    readyEpoch = -1;
    /** @internal the socket generation the execute went out on. */
    sentEpoch = -1;
    /** @internal the highest `seq` delivered (events at or below it are replays and dropped). */
    lastSeq = 0;
    /** @internal a `resume` is on its way and not answered yet. */
    resumePending = false;
    /** @internal whether `started` was delivered. */
    started = false;
    /** @internal the execute was sent again after a reconnect (a `conflict` answer is fine). */
    resent = false;
    /** @internal signals asked for while the run could not take them yet. */
    pendingSignals = [];
    /** @internal one-shot runs number their own stdin writes; session runs use the session's. */
    stdin;
    #host;
    #events = [];
    #waiters = new Set();
    #stdout = "";
    #stderr = "";
    #compile = null;
    #error;
    #done = false;
    #stdinClosed = false;
    #resolve;
    #reject;
    /** @internal use `client.execute` or `session.execute`. */
    constructor(host, id, frame, sessionId) {
        super();
        this.#host = host;
        this.id = id;
        this.frame = frame;
        this.sessionId = sessionId;
        this.stdin = sessionId === undefined ? new StdinLog() : undefined;
        this.result = new Promise((resolve, reject) => {
            this.#resolve = resolve;
            this.#reject = reject;
        });
        // A caller that only uses callbacks must not get an unhandled rejection.
        this.result.catch(() => { });
    }
    /** Whether the run has ended (exit delivered, or lost). */
    get done() {
        return this.#done;
    }
    /** Write text to the program's stdin (queued while offline; each write applied once). */
    write(data) {
        if (this.#done)
            return;
        if (this.#stdinClosed)
            throw new Error(`stdin of run ${this.id} is closed: write before closeStdin()`);
        if (data === "")
            return;
        this.#host.writeStdin(this, data, false);
    }
    /** Close the program's stdin (end of file). */
    closeStdin() {
        if (this.#done || this.#stdinClosed)
            return;
        this.#stdinClosed = true;
        this.#host.writeStdin(this, "", true);
    }
    /** Interrupt the program (SIGINT; in a session, the cell stops and the state lives on). */
    interrupt() {
        this.signal("SIGINT");
    }
    /** Send a signal: `SIGINT`, `SIGTERM`, `SIGKILL`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2`. */
    signal(signal) {
        if (this.#done)
            return;
        this.#host.sendSignal(this, signal);
    }
    /** Every event from the first, in order; ends after `exit`, throws if the run is lost. */
    async *[Symbol.asyncIterator]() {
        let index = 0;
        for (;;) {
            while (index < this.#events.length) {
                yield this.#events[index++];
            }
            if (this.#error)
                throw this.#error;
            if (this.#done)
                return;
            await new Promise((resolve) => this.#waiters.add(resolve));
        }
    }
    /** @internal deliver one event (already deduplicated by the client). */
    deliver(event) {
        if (this.#done)
            return;
        this.lastSeq = Math.max(this.lastSeq, event.seq);
        this.#events.push(event);
        switch (event.type) {
            case "started":
                this.started = true;
                break;
            case "stdout":
            case "stderr":
                if (event.stage === "compile")
                    this.#compile = (this.#compile ?? "") + event.data;
                else if (event.type === "stdout")
                    this.#stdout += event.data;
                else
                    this.#stderr += event.data;
                break;
            case "exit":
                this.#done = true;
                this.phase = "done";
                break;
            case "input_request":
                break;
        }
        this.emit(event.type, event);
        this.emit("event", event);
        if (event.type === "exit")
            this.#resolve(this.#finish(event));
        this.#wake();
    }
    /** @internal the run is lost (connection closed for good, session gone, server error). */
    fail(error) {
        if (this.#done)
            return;
        this.#done = true;
        this.phase = "done";
        this.#error = error;
        if (this.listenerCount("error") > 0)
            this.emit("error", error);
        this.#reject(error);
        this.#wake();
    }
    #finish(exit) {
        const { type: _type, seq: _seq, session: _session, ...info } = exit;
        return { ...info, id: this.id, stdout: this.#stdout, stderr: this.#stderr, compileOutput: this.#compile };
    }
    #wake() {
        for (const waiter of this.#waiters)
            waiter();
        this.#waiters.clear();
    }
}
/**
 * The stdin writes of one run (one-shot) or one session, numbered 1, 2, 3, ... (`stdin_seq`).
 * A write stays here until a `resumed` reply says the server applied it, or its run ended, so
 * that a reconnect re-sends exactly the writes the server has not applied.
 */
export class StdinLog {
    #next = 1;
    /** Unacknowledged writes, in order. */
    writes = [];
    /** The highest number sent on the current socket (or known applied). */
    sentUpTo = 0;
    /** The highest number sent on any earlier socket. */
    sentBefore = 0;
    /** The highest number the server said it applied. */
    acked = 0;
    add(run, data, eof) {
        const write = { seq: this.#next++, run, data, eof };
        this.writes.push(write);
        return write;
    }
    /** The socket dropped: nothing past `acked` is known to have arrived. */
    disconnected() {
        this.sentBefore = Math.max(this.sentBefore, this.sentUpTo);
        this.sentUpTo = this.acked;
    }
    /**
     * A `resumed` reply: the server applied every write up to `seq`; forget those, and send the
     * rest again. Without `seq` the server does not number stdin (it predates exactly-once
     * stdin): what was sent is taken as applied, and only what was never sent goes out.
     */
    acknowledge(seq) {
        const applied = typeof seq === "number" ? seq : this.sentBefore;
        this.acked = Math.max(this.acked, applied);
        this.writes = this.writes.filter((write) => write.seq > this.acked);
        this.sentUpTo = Math.max(this.sentUpTo, this.acked);
    }
    /** A run ended: its writes are moot. */
    forget(run) {
        this.writes = this.writes.filter((write) => write.run !== run);
    }
}
//# sourceMappingURL=run.js.map