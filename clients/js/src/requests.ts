/**
 * Requests and the send queue. A request (`create_session`, `restart_session`,
 * `close_session`, a session's `resume`) waits for one `session` reply, or an error, or
 * `requestTimeoutMs`. While the socket is not authenticated, requests and the executes of new
 * runs wait here in call order, and go out in that order once it is.
 */

import type { Link } from "./connection.js";
import { type RunnelError, TimeoutError } from "./errors.js";
import type * as wire from "./protocol.js";
import type { Run } from "./run.js";
import type { Session } from "./session.js";
import type { ServerFrameOf } from "./wire.js";

/** The frames that wait for a reply. */
type RequestFrame = wire.ClientCreateSession | wire.ClientRestartSession | wire.ClientCloseSession | wire.ClientResume;

/** Every reply to a request is a `session` frame (`created`, `restarted`, `closed`, `resumed`, ...). */
export type SessionFrame = ServerFrameOf<"session">;

/** A request answered by one reply: session actions and resumes. */
export interface Op {
  action: RequestFrame["action"];
  frame: RequestFrame;
  /** The session it is about: the server's id-less errors are matched to these in order. */
  session?: Session;
  /** The correlation id the reply echoes (`create_session`). */
  correlation?: string;
  /** The socket generation it went out on (-1: not yet). */
  sentEpoch: number;
  /** Dies with its socket (a `resume` is made again for the next one). */
  perSocket: boolean;
  resolve: (frame: SessionFrame) => void;
  reject: (error: RunnelError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** What waits for a socket: a request, or the execute of a run. */
export type Outgoing = { op: Op } | { run: Run };

/** Where queued runs go when the queue is flushed. */
export interface RunSender {
  sendRun(run: Run): void;
}

export class Requests {
  readonly #link: Link;
  readonly #timeoutMs: number;
  /** Sent and not answered yet, in sending order. */
  #inflight: Op[] = [];
  /** Not sent yet, in call order. */
  #outbox: Outgoing[] = [];

  constructor(link: Link, timeoutMs: number) {
    this.#link = link;
    this.#timeoutMs = timeoutMs;
  }

  /** Send a request (or queue it behind what waits); resolves with its reply. */
  request(spec: Omit<Op, "sentEpoch" | "resolve" | "reject">): Promise<SessionFrame> {
    return new Promise<SessionFrame>((resolve, reject) => {
      if (this.#link.closedError) return reject(this.#link.closedError);
      this.#link.start();
      const op: Op = { ...spec, sentEpoch: -1, resolve, reject };
      if (this.ready) this.send(op);
      else this.#outbox.push({ op });
    });
  }

  /** Whether something new may go out at once: the socket is ready and nothing waits ahead. */
  get ready(): boolean {
    return this.#link.authenticated && this.#outbox.length === 0;
  }

  /** Wait for a socket, behind what already waits. */
  enqueue(item: Outgoing): void {
    this.#outbox.push(item);
  }

  /** Wait for a socket, ahead of everything (it failed to go out on this one). */
  requeue(item: Outgoing): void {
    this.#outbox.unshift(item);
  }

  /** Send what waits, in order, while the socket is authenticated. */
  flush(runs: RunSender): void {
    while (this.#link.authenticated && this.#outbox.length > 0) {
      const item = this.#outbox.shift() as Outgoing;
      if ("op" in item) this.send(item.op);
      else runs.sendRun(item.run);
    }
  }

  /** Send `op` on the current socket (again, after a reconnect) and wait for its reply. */
  send(op: Op): void {
    if (!this.#inflight.includes(op)) this.#inflight.push(op);
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
  take(match: (op: Op) => boolean): Op | undefined {
    const op = this.#inflight.find(match);
    if (op) this.#remove(op);
    return op;
  }

  /** A new socket: requests sent on an earlier one go out again. */
  resendUnanswered(): void {
    for (const op of [...this.#inflight]) if (op.sentEpoch !== this.#link.epoch) this.send(op);
  }

  /** The socket dropped: timers stop until the requests are sent again; per-socket ones end. */
  dropped(): void {
    for (const op of this.#inflight) clearTimeout(op.timer);
    this.#inflight = this.#inflight.filter((op) => !op.perSocket);
  }

  /** The session is gone: its resume is moot. */
  forgetResumes(session: Session): void {
    for (const op of [...this.#inflight]) {
      if (op.session === session && op.action === "resume") this.#remove(op);
    }
  }

  /** Closed for good: every request, sent or waiting, fails with `error`. */
  rejectAll(error: RunnelError): void {
    const ops = [...this.#inflight, ...this.#outbox.flatMap((item) => ("op" in item ? [item.op] : []))];
    this.#inflight = [];
    this.#outbox = [];
    for (const op of ops) {
      clearTimeout(op.timer);
      op.reject(error);
    }
  }

  #remove(op: Op): void {
    clearTimeout(op.timer);
    this.#inflight = this.#inflight.filter((other) => other !== op);
  }
}
