/**
 * Wire frames: building client frames and turning server frames into `RunEvent`s. Field names
 * on the wire are snake_case (docs/protocol.md); the SDK's are camelCase.
 */
import type { ExecuteOptions, ExitInfo, RunEvent, SessionExecuteOptions } from "./types.js";
/** A server frame, loosely typed: fields are checked where they are used. */
export interface ServerFrame {
    type: string;
    id?: string;
    seq?: number;
    session?: string;
    event?: string;
    code?: string;
    message?: string;
    t?: unknown;
    stdin_seq?: number;
    [field: string]: unknown;
}
/** The `execute` frame of a streamed run. */
export declare function executeFrame(id: string, options: ExecuteOptions | SessionExecuteOptions, session?: string): Record<string, unknown>;
/** The event of a run frame (`started`, `stdout`, `stderr`, `input_request`, `exit`). */
export declare function runEvent(frame: ServerFrame): RunEvent | undefined;
/** The exit figures of an `exit` (or `result`) frame. */
export declare function exitInfo(frame: ServerFrame): ExitInfo;
/** Text of a message event's data (a string in browsers; ws may hand over bytes). */
export declare function frameText(data: unknown): string | undefined;
/** A random unique id (run ids, correlation ids). */
export declare function randomId(): string;
//# sourceMappingURL=wire.d.ts.map