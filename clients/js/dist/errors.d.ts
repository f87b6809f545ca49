/**
 * Errors of the SDK. Every one is a `RunnelError` with `code`: the protocol's error code
 * (`unauthorized`, `not_found`, `resume_gap`, ...) or one of the client's own
 * (`connection_closed`, `timeout`, `http_error`).
 */
export declare class RunnelError extends Error {
    /** The protocol's error code, or the client's own. */
    readonly code: string;
    /** The run or request id the error is about, when known. */
    readonly id: string | undefined;
    /** The HTTP status, for errors of the HTTP API. */
    readonly status: number | undefined;
    constructor(code: string, message: string, options?: {
        id?: string;
        status?: number;
        cause?: unknown;
    });
}
/** The key is wrong, revoked, or was not sent in time (`unauthorized`, `auth_timeout`), or
 * may not do this (`forbidden`: server-wide figures need an operator key). */
export declare class AuthenticationError extends RunnelError {
}
/** The request was malformed or named something the server does not have
 * (`bad_request`, `unknown_language`, `payload_too_large`). */
export declare class BadRequestError extends RunnelError {
}
/** No such run or session for this key (`not_found`), or it expired. */
export declare class NotFoundError extends RunnelError {
}
/** A limit of the key was hit (`rate_limited`, `concurrency_limit`, `session_limit`). */
export declare class LimitError extends RunnelError {
}
/** The server no longer keeps the events needed to resume (`resume_gap`). */
export declare class ResumeGapError extends RunnelError {
}
/** The server failed or is going away (`internal_error`, `unavailable`, `conflict`). */
export declare class ServerError extends RunnelError {
}
/** The connection is closed for good: `client.close()` was called, or reconnection gave up
 * (`connection_closed`). */
export declare class ConnectionClosedError extends RunnelError {
}
/** A request got no answer in time (`timeout`). */
export declare class TimeoutError extends RunnelError {
}
/** The `RunnelError` subclass for a protocol error code. */
export declare function errorFromCode(code: string, message: string, options?: {
    id?: string;
    status?: number;
}): RunnelError;
//# sourceMappingURL=errors.d.ts.map