/**
 * Requests and the send queue. A request (`create_session`, `restart_session`,
 * `close_session`, a session's `resume`) waits for one `session` reply, or an error, or
 * `requestTimeoutMs`. While the socket is not authenticated, requests and the executes of new
 * runs wait here in call order, and go out in that order once it is.
 */
import { TimeoutError } from "./errors.js";
export class Requests {
    #link;
    #timeoutMs;
    /** Sent and not answered yet, in sending order. */
    #inflight = [];
    /** Not sent yet, in call order. */
    #outbox = [];
    constructor(link, timeoutMs) {
        this.#link = link;
        this.#timeoutMs = timeoutMs;
    }
    /** Send a request (or queue it behind what waits); resolves with its reply. */
    request(spec) {
        return new Promise((resolve, reject) => {
            if (this.#link.closedError)
                return reject(this.#link.closedError);
            this.#link.start();
            const op = { ...spec, sentEpoch: -1, resolve, reject };
            if (this.ready)
                this.send(op);
            else
                this.#outbox.push({ op });
        });
    }
    /** Whether something new may go out at once: the socket is ready and nothing waits ahead. */
    get ready() {
        return this.#link.authenticated && this.#outbox.length === 0;
    }
    /** Wait for a socket, behind what already waits. */
    enqueue(item) {
        this.#outbox.push(item);
    }
    /** Wait for a socket, ahead of everything (it failed to go out on this one). */
    requeue(item) {
        this.#outbox.unshift(item);
    }
    /** Send what waits, in order, while the socket is authenticated. */
    flush(runs) {
        while (this.#link.authenticated && this.#outbox.length > 0) {
            const item = this.#outbox.shift();
            if ("op" in item)
                this.send(item.op);
            else
                runs.sendRun(item.run);
        }
    }
    /** Send `op` on the current socket (again, after a reconnect) and wait for its reply. */
    send(op) {
        if (!this.#inflight.includes(op))
            this.#inflight.push(op);
        op.sentEpoch = this.#link.epoch;
        clearTimeout(op.timer);
        if (!op.perSocket) {
            op.timer = setTimeout(() => {
                this.#remove(op);
                op.reject(new TimeoutError("timeout", `no answer to \`${op.action}\` within ${this.#timeoutMs} ms (requestTimeoutMs)`));
            }, this.#timeoutMs);
        }
        this.#link.send(op.frame);
    }
    /** The first request in flight that `match` picks, no longer waiting (the caller settles it). */
    take(match) {
        const op = this.#inflight.find(match);
        if (op)
            this.#remove(op);
        return op;
    }
    /** A new socket: requests sent on an earlier one go out again. */
    resendUnanswered() {
        for (const op of [...this.#inflight])
            if (op.sentEpoch !== this.#link.epoch)
                this.send(op);
    }
    /** The socket dropped: timers stop until the requests are sent again; per-socket ones end. */
    dropped() {
        for (const op of this.#inflight)
            clearTimeout(op.timer);
        this.#inflight = this.#inflight.filter((op) => !op.perSocket);
    }
    /** The session is gone: its resume is moot. */
    forgetResumes(session) {
        for (const op of [...this.#inflight]) {
            if (op.session === session && op.action === "resume")
                this.#remove(op);
        }
    }
    /** Closed for good: every request, sent or waiting, fails with `error`. */
    rejectAll(error) {
        const ops = [...this.#inflight, ...this.#outbox.flatMap((item) => ("op" in item ? [item.op] : []))];
        this.#inflight = [];
        this.#outbox = [];
        for (const op of ops) {
            clearTimeout(op.timer);
            op.reject(error);
        }
    }
    #remove(op) {
        clearTimeout(op.timer);
        this.#inflight = this.#inflight.filter((other) => other !== op);
    }
}
//# sourceMappingURL=requests.js.map