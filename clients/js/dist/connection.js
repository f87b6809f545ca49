/**
 * The connection: one socket at a time, authenticated (`auth`, then a `ping` whose `pong`
 * proves the key was taken), kept alive by a heartbeat, and opened again with exponential
 * backoff when it dies. A socket is dead when a `pong` is later than `pongTimeoutMs` (pings go
 * every `pingIntervalMs`), when it errors, or when it closes.
 *
 * What rides on the socket (requests, runs, resumes) is not kept here: the client hears of
 * each authenticated, dropped or closed-for-good socket through `ConnectionHooks`, and its
 * parts send through the narrow `Link`.
 */
import { backoffDelay } from "./backoff.js";
import { ConnectionClosedError, RunnelError } from "./errors.js";
import { LatencyMonitor, now } from "./latency.js";
import { frameText } from "./wire.js";
export class Connection {
    #settings;
    #events;
    #hooks;
    #state = "closed";
    #socket = null;
    #epoch = 0;
    #authenticated = false;
    #everOpened = false;
    /** Failed attempts in a row. */
    #attempt = 0;
    #closedError;
    #reconnectTimer;
    #connectTimer;
    #heartbeat;
    #lastPingAt = 0;
    #pingCounter = 0;
    #pings = new Map();
    #latency = new LatencyMonitor();
    #connectWaiters = [];
    constructor(settings, events, hooks) {
        this.#settings = settings;
        this.#events = events;
        this.#hooks = hooks;
    }
    get state() {
        return this.#state;
    }
    get latency() {
        return this.#latency.stats;
    }
    get epoch() {
        return this.#epoch;
    }
    get authenticated() {
        return this.#authenticated;
    }
    get closedError() {
        return this.#closedError;
    }
    /** Connect and authenticate; resolves when open. Retries with backoff; rejects on giving up. */
    connect() {
        if (this.#state === "open")
            return Promise.resolve();
        const opened = new Promise((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
        if (this.#state === "closed") {
            this.#closedError = undefined;
            this.#attempt = 0;
            this.#setState("connecting");
            this.#open();
        }
        return opened;
    }
    /** Close for good: runs in flight fail with `ConnectionClosedError`. `connect()` starts again. */
    close() {
        if (this.#state === "closed" && !this.#socket)
            return;
        this.shutdown(new ConnectionClosedError("connection_closed", "the client was closed: call connect() to use it again"));
    }
    /** One round trip to the server, ms (queued while offline). */
    ping() {
        return new Promise((resolve, reject) => {
            if (this.#closedError)
                return reject(this.#closedError);
            this.start();
            const t = ++this.#pingCounter;
            this.#pings.set(t, { sentAt: 0, epoch: -1, handshake: false, waiter: { resolve, reject } });
            if (this.#authenticated)
                this.#sendPing(t);
        });
    }
    start() {
        if (this.#state === "closed" && !this.#closedError)
            void this.connect().catch(() => { });
    }
    send(frame) {
        const socket = this.#socket;
        if (!socket)
            return false;
        try {
            socket.send(JSON.stringify(frame));
            return true;
        }
        catch (error) {
            this.#lost(asError(error));
            return false;
        }
    }
    /** Close for good with `error`: every run, request and waiter fails with it. */
    shutdown(error, giveup = false) {
        clearTimeout(this.#reconnectTimer);
        this.#reconnectTimer = undefined;
        this.#dropSocket();
        this.#closedError = error;
        this.#setState("closed");
        if (giveup)
            this.#events.emit("giveup", { attempts: this.#attempt, error });
        this.#hooks.closed(error);
        for (const [t, entry] of this.#pings) {
            entry.waiter?.reject(error);
            this.#pings.delete(t);
        }
        const waiters = this.#connectWaiters;
        this.#connectWaiters = [];
        for (const waiter of waiters)
            waiter.reject(error);
    }
    #setState(state) {
        if (this.#state === state)
            return;
        this.#state = state;
        this.#events.emit("state", state);
    }
    #open() {
        const Constructor = this.#settings.WebSocket;
        if (!Constructor) {
            this.shutdown(new RunnelError("bad_request", "no WebSocket in this environment: pass one as the `WebSocket` option (in Node 20, import from `@runnel/client` or `@runnel/client/node`, which use the `ws` package)"), true);
            return;
        }
        this.#epoch += 1;
        let socket;
        try {
            socket = new Constructor(this.#settings.url);
        }
        catch (error) {
            this.#lost(asError(error));
            return;
        }
        this.#socket = socket;
        this.#authenticated = false;
        const connectTimeoutMs = this.#settings.connectTimeoutMs;
        this.#connectTimer = setTimeout(() => {
            if (this.#socket === socket)
                this.#lost(new Error(`no authenticated connection within ${connectTimeoutMs} ms`));
        }, connectTimeoutMs);
        socket.onopen = () => {
            if (this.#socket !== socket)
                return;
            // The key goes in the first frame (browsers cannot set headers); the pong that follows
            // proves it was accepted, since the server answers frames in order.
            this.send({ action: "auth", api_key: this.#settings.apiKey });
            const t = ++this.#pingCounter;
            this.#pings.set(t, { sentAt: now(), epoch: this.#epoch, handshake: true });
            this.send({ action: "ping", t });
        };
        socket.onmessage = (event) => {
            if (this.#socket !== socket)
                return;
            this.#latency.frame();
            const text = frameText(event.data);
            if (text === undefined)
                return;
            let frame;
            try {
                frame = JSON.parse(text);
            }
            catch {
                return;
            }
            if (frame.type === "pong")
                this.#onPong(frame);
            else
                this.#hooks.frame(frame);
        };
        socket.onerror = (event) => {
            if (this.#socket !== socket)
                return;
            const detail = event?.message ?? event?.error?.message;
            this.#lost(new Error(`websocket error${detail ? `: ${detail}` : ""}`));
        };
        socket.onclose = (event) => {
            if (this.#socket !== socket)
                return;
            this.#lost(new Error(`connection closed (code ${event?.code ?? "?"}${event?.reason ? `, ${event.reason}` : ""})`));
        };
    }
    #onPong(frame) {
        const t = typeof frame.t === "number" ? frame.t : Number.NaN;
        const entry = this.#pings.get(t);
        if (!entry || entry.epoch !== this.#epoch)
            return;
        this.#pings.delete(t);
        const rtt = now() - entry.sentAt;
        this.#latency.record(rtt);
        if (entry.handshake)
            this.#onAuthenticated();
        entry.waiter?.resolve(rtt);
        this.#events.emit("latency", this.#latency.stats);
    }
    #onAuthenticated() {
        clearTimeout(this.#connectTimer);
        this.#authenticated = true;
        const reconnected = this.#everOpened;
        const attempts = this.#attempt;
        this.#attempt = 0;
        this.#everOpened = true;
        this.#lastPingAt = now();
        const { pingIntervalMs, pongTimeoutMs } = this.#settings;
        this.#heartbeat = setInterval(() => this.#beat(), Math.max(10, Math.min(pingIntervalMs, pongTimeoutMs / 4)));
        this.#hooks.authenticated();
        for (const [t, entry] of this.#pings)
            if (entry.waiter && entry.epoch !== this.#epoch)
                this.#sendPing(t);
        this.#setState("open");
        if (reconnected)
            this.#events.emit("reconnected", { attempt: attempts });
        this.#events.emit("open");
        const waiters = this.#connectWaiters;
        this.#connectWaiters = [];
        for (const waiter of waiters)
            waiter.resolve();
    }
    /** The socket is gone (closed, errored, or silent): clean up, and reconnect unless closed. */
    #lost(error) {
        this.#dropSocket();
        if (this.#state === "closed")
            return;
        const reconnect = this.#settings.reconnect;
        if (reconnect === false) {
            this.shutdown(new ConnectionClosedError("connection_closed", `connection lost (${error.message}) and reconnect is off`));
            return;
        }
        this.#attempt += 1;
        if (this.#attempt > reconnect.maxRetries) {
            const attempts = this.#attempt - 1;
            this.#events.emit("giveup", { attempts, error });
            this.shutdown(new ConnectionClosedError("connection_closed", `gave up reconnecting to ${this.#settings.url} after ${attempts} attempts (last error: ${error.message}); raise reconnect.maxRetries or check the server`));
            return;
        }
        const delayMs = backoffDelay(reconnect, this.#attempt);
        if (this.#everOpened)
            this.#setState("reconnecting");
        this.#events.emit("reconnecting", { attempt: this.#attempt, delayMs, error });
        this.#reconnectTimer = setTimeout(() => {
            this.#reconnectTimer = undefined;
            if (this.#state !== "closed")
                this.#open();
        }, delayMs);
    }
    #dropSocket() {
        const socket = this.#socket;
        this.#socket = null;
        this.#authenticated = false;
        clearTimeout(this.#connectTimer);
        clearInterval(this.#heartbeat);
        this.#heartbeat = undefined;
        if (socket) {
            socket.onopen = null;
            socket.onmessage = null;
            socket.onclose = null;
            // `ws` throws on an error event nobody listens to.
            socket.onerror = () => { };
            try {
                const terminate = socket.terminate;
                if (typeof terminate === "function")
                    terminate.call(socket);
                else
                    socket.close();
            }
            catch {
                // Closing a socket that never opened may throw; it is gone either way.
            }
        }
        for (const [t, entry] of this.#pings) {
            if (entry.waiter)
                entry.epoch = -1;
            else
                this.#pings.delete(t);
        }
        this.#hooks.dropped();
    }
    /** Heartbeat: ping every `pingIntervalMs`; a pong later than `pongTimeoutMs` kills the socket. */
    #beat() {
        if (!this.#authenticated)
            return;
        const { pingIntervalMs, pongTimeoutMs } = this.#settings;
        const at = now();
        for (const entry of this.#pings.values()) {
            if (entry.epoch === this.#epoch && at - entry.sentAt > pongTimeoutMs) {
                this.#lost(new Error(`no pong within ${pongTimeoutMs} ms: the connection is dead`));
                return;
            }
        }
        if (at - this.#lastPingAt >= pingIntervalMs) {
            this.#lastPingAt = at;
            const t = ++this.#pingCounter;
            this.#pings.set(t, { sentAt: at, epoch: this.#epoch, handshake: false });
            this.send({ action: "ping", t });
        }
    }
    #sendPing(t) {
        const entry = this.#pings.get(t);
        if (!entry)
            return;
        entry.sentAt = now();
        entry.epoch = this.#epoch;
        this.send({ action: "ping", t });
    }
}
function asError(value) {
    return value instanceof Error ? value : new Error(String(value));
}
//# sourceMappingURL=connection.js.map