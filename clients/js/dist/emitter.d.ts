/**
 * A tiny typed event emitter (no Node built-ins, so it bundles for browsers).
 *
 * A listener that throws does not break the SDK's state: the error is rethrown on a fresh
 * microtask, where it surfaces as an uncaught error like any other bug in a callback.
 */
type Listener = (...args: any[]) => void;
export declare class Emitter<Events extends {
    [K in keyof Events]: Listener;
}> {
    #private;
    /** Call `listener` on every `event`; returns a function that removes it. */
    on<K extends keyof Events>(event: K, listener: Events[K]): () => void;
    /** Call `listener` on the next `event` only. */
    once<K extends keyof Events>(event: K, listener: Events[K]): () => void;
    off<K extends keyof Events>(event: K, listener: Events[K]): void;
    protected listenerCount<K extends keyof Events>(event: K): number;
    protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void;
}
export {};
//# sourceMappingURL=emitter.d.ts.map