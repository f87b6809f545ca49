/**
 * Wire frames: building client frames and turning server frames into `RunEvent`s. Field names
 * on the wire are snake_case (docs/protocol.md, and the generated types of `protocol.ts`); the
 * SDK's are camelCase.
 */
import type * as wire from "./protocol.js";
import type { ExecuteOptions, ExitInfo, RunEvent, SessionExecuteOptions } from "./types.js";
/**
 * A message as received: the fields of `T` by name, each one unchecked until it is read (a
 * server may omit fields, or be older or newer than this SDK). Reading a field `T` lacks does
 * not compile, so a renamed wire field shows up here.
 */
export type Received<T> = {
    [K in keyof T]?: unknown;
};
/** One server frame as received: `type` says which one it is; the rest is `Received`. */
type ReceivedFrame<M extends {
    type: string;
}> = M extends unknown ? {
    type: M["type"];
} & Received<Omit<M, "type">> : never;
/** A server frame, loosely typed: fields are checked where they are used. */
export type ServerFrame = ReceivedFrame<wire.ServerMessage>;
/** A frame of one type (`ServerFrameOf<"exit">`). */
export type ServerFrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, {
    type: T;
}>;
/** The frames of a run's events. */
export type RunFrame = ServerFrameOf<"started" | "stdout" | "stderr" | "input_request" | "exit">;
/** The `execute` frame of a streamed run. */
export declare function executeFrame(id: string, options: ExecuteOptions | SessionExecuteOptions, session?: string): wire.ClientExecute;
/** The event of a run frame (`started`, `stdout`, `stderr`, `input_request`, `exit`). */
export declare function runEvent(frame: RunFrame): RunEvent | undefined;
/** The exit figures of an `exit` (or `result`) frame. */
export declare function exitInfo(frame: Received<wire.ExitEvent> | Received<wire.Result>): ExitInfo;
/** Text of a message event's data (a string in browsers; ws may hand over bytes). */
export declare function frameText(data: unknown): string | undefined;
/** A random unique id (run ids, correlation ids). */
export declare function randomId(): string;
export {};
//# sourceMappingURL=wire.d.ts.map