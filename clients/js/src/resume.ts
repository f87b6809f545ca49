/**
 * Resume after a reconnect, so that the caller sees one continuous stream:
 *
 * 1. before anything else, `resume` goes out for every session and every one-shot run in
 *    flight, with the last `seq` delivered (replays at or below it are dropped on arrival);
 * 2. each `resumed` reply says which stdin writes were applied (`stdin_seq`): the rest are
 *    sent again, in order, and so are the signals that waited;
 * 3. an execute that may never have reached the server is sent again once the replay shows
 *    it is not there (a one-shot run's resume answers `not_found`; a session's replay is in
 *    and the run has not started).
 */

import type { ClientEventSink, Link } from "./connection.js";
import { errorFromCode, type RunnelError } from "./errors.js";
import type { Op, Requests } from "./requests.js";
import type { Run } from "./run.js";
import type { Session } from "./session.js";
import type { Streams } from "./streams.js";
import type { ServerFrameOf } from "./wire.js";

export class Resumer {
  readonly #link: Link;
  readonly #requests: Requests;
  readonly #streams: Streams;
  readonly #events: ClientEventSink;

  constructor(link: Link, requests: Requests, streams: Streams, events: ClientEventSink) {
    this.#link = link;
    this.#requests = requests;
    this.#streams = streams;
    this.#events = events;
  }

  /** A new socket is authenticated: resume every session and every one-shot run sent before. */
  resumeAll(): void {
    for (const session of this.#streams.sessions.values()) if (!session.closed) this.resumeSession(session);
    for (const run of this.#streams.runs.values()) {
      if (run.sessionId === undefined && run.phase === "sent" && run.sentEpoch < this.#link.epoch) {
        run.resumePending = true;
        this.#link.send({ action: "resume", id: run.id, last_seq: run.lastSeq });
      }
    }
  }

  resumeSession(session: Session): void {
    const op: Op = {
      action: "resume",
      frame: { action: "resume", session: session.id, last_seq: session.lastSeq },
      session,
      perSocket: true,
      sentEpoch: -1,
      resolve: (reply) => {
        session.readyEpoch = this.#link.epoch;
        session.stdin.acknowledge(typeof reply.stdin_seq === "number" ? reply.stdin_seq : undefined);
        this.#streams.flushLog(session.stdin);
        for (const run of session.runs) this.#streams.flushSignals(run);
        session.replayUntil = Number(reply.seq ?? 0);
        this.afterReplay(session);
      },
      reject: (error) => this.#sessionResumeFailed(session, error),
    };
    this.#requests.send(op);
  }

  /**
   * Once a resumed session's replay is delivered (its `seq` reached the one `resumed` named),
   * a session execute that went out just before the link dropped and has not started is sent
   * again: it may never have reached the server. If it did (it is queued or running), the
   * server refuses the repeat with `conflict`, which is ignored, so it runs once.
   */
  afterReplay(session: Session): void {
    if (session.replayUntil === undefined || session.lastSeq < session.replayUntil || !this.#link.authenticated) return;
    session.replayUntil = undefined;
    for (const run of [...session.runs]) {
      if (run.phase === "sent" && !run.started && !run.done && run.sentEpoch < this.#link.epoch) {
        run.resent = true;
        this.#streams.sendRun(run);
      }
    }
  }

  /** A one-shot run's `resumed`: it takes stdin and signals here again. */
  runResumed(frame: ServerFrameOf<"resumed">): void {
    const run = this.#streams.runs.get(String(frame.id));
    if (!run || !run.resumePending) return;
    run.resumePending = false;
    run.readyEpoch = this.#link.epoch;
    run.stdin?.acknowledge(typeof frame.stdin_seq === "number" ? frame.stdin_seq : undefined);
    if (run.stdin) this.#streams.flushLog(run.stdin);
    this.#streams.flushSignals(run);
  }

  /** A one-shot run's `resume` was refused with `error`. */
  runResumeFailed(run: Run, error: RunnelError): void {
    run.resumePending = false;
    if (error.code === "not_found" && !run.started && run.lastSeq === 0) {
      // The execute never reached the server (the link dropped first): send it now.
      this.#streams.sendRun(run);
      return;
    }
    const hint = error.code === "bad_request" ? " (this server cannot resume one-shot runs: upgrade it, or run in a session)" : "";
    run.fail(errorFromCode(error.code, `run ${run.id} could not be resumed after a reconnect: ${error.message}${hint}`, { id: run.id }));
    this.#streams.forget(run);
  }

  #sessionResumeFailed(session: Session, error: RunnelError): void {
    if (error.code === "not_found") {
      this.#streams.sessionGone(session, "expired");
      return;
    }
    if (error.code === "resume_gap") {
      // Events were lost for good: the runs that needed them fail, the session goes on.
      const failure = errorFromCode("resume_gap", `session ${session.id}: output was lost while offline (${error.message})`);
      for (const run of [...session.runs]) {
        if (run.phase === "sent") {
          run.fail(failure);
          this.#streams.forget(run);
        }
      }
      const oldest = /last_seq >= (\d+)/.exec(error.message);
      if (oldest && this.#link.authenticated) {
        session.lastSeq = Math.max(session.lastSeq, Number(oldest[1]));
        this.resumeSession(session);
      }
      return;
    }
    this.#events.emit("error", error);
  }
}
