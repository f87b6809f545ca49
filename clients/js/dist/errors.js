/**
 * Errors of the SDK. Every one is a `RunnelError` with `code`: the protocol's error code
 * (`unauthorized`, `not_found`, `resume_gap`, ...) or one of the client's own
 * (`connection_closed`, `timeout`, `http_error`).
 */
export class RunnelError extends Error {
    /** The protocol's error code, or the client's own. */
    code;
    /** The run or request id the error is about, when known. */
    id;
    /** The HTTP status, for errors of the HTTP API. */
    status;
    constructor(code, message, options = {}) {
        super(message, options.cause === undefined ? undefined : { cause: options.cause });
        this.name = new.target.name;
        this.code = code;
        this.id = options.id;
        this.status = options.status;
    }
}
/** The key is wrong, revoked, or was not sent in time (`unauthorized`, `auth_timeout`), or
 * may not do this (`forbidden`: server-wide figures need an operator key). */
export class AuthenticationError extends RunnelError {
}
/** The request was malformed or named something the server does not have
 * (`bad_request`, `unknown_language`, `payload_too_large`). */
export class BadRequestError extends RunnelError {
}
/** No such run or session for this key (`not_found`), or it expired. */
export class NotFoundError extends RunnelError {
}
/** A limit of the key was hit (`rate_limited`, `concurrency_limit`, `session_limit`). */
export class LimitError extends RunnelError {
}
/** The server no longer keeps the events needed to resume (`resume_gap`). */
export class ResumeGapError extends RunnelError {
}
/** The server failed or is going away (`internal_error`, `unavailable`, `conflict`). */
export class ServerError extends RunnelError {
}
/** The connection is closed for good: `client.close()` was called, or reconnection gave up
 * (`connection_closed`). */
export class ConnectionClosedError extends RunnelError {
}
/** A request got no answer in time (`timeout`). */
export class TimeoutError extends RunnelError {
}
const CLASSES = {
    unauthorized: AuthenticationError,
    auth_timeout: AuthenticationError,
    forbidden: AuthenticationError,
    bad_request: BadRequestError,
    unknown_language: BadRequestError,
    payload_too_large: BadRequestError,
    not_found: NotFoundError,
    rate_limited: LimitError,
    concurrency_limit: LimitError,
    session_limit: LimitError,
    resume_gap: ResumeGapError,
    internal_error: ServerError,
    unavailable: ServerError,
    conflict: ServerError,
    connection_closed: ConnectionClosedError,
    timeout: TimeoutError,
};
/** The `RunnelError` subclass for a protocol error code. */
export function errorFromCode(code, message, options = {}) {
    const Class = CLASSES[code] ?? RunnelError;
    return new Class(code, message, options);
}
//# sourceMappingURL=errors.js.map