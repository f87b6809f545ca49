/**
 * A tiny typed event emitter (no Node built-ins, so it bundles for browsers).
 *
 * A listener that throws does not break the SDK's state: the error is rethrown on a fresh
 * microtask, where it surfaces as an uncaught error like any other bug in a callback.
 */
export class Emitter {
    #listeners = new Map();
    /** Call `listener` on every `event`; returns a function that removes it. */
    on(event, listener) {
        let set = this.#listeners.get(event);
        if (!set) {
            set = new Set();
            this.#listeners.set(event, set);
        }
        set.add(listener);
        return () => this.off(event, listener);
    }
    /** Call `listener` on the next `event` only. */
    once(event, listener) {
        const wrapper = ((...args) => {
            off();
            listener(...args);
        });
        const off = this.on(event, wrapper);
        return off;
    }
    off(event, listener) {
        this.#listeners.get(event)?.delete(listener);
    }
    listenerCount(event) {
        return this.#listeners.get(event)?.size ?? 0;
    }
    emit(event, ...args) {
        const set = this.#listeners.get(event);
        if (!set)
            return;
        for (const listener of [...set]) {
            try {
                listener(...args);
            }
            catch (error) {
                queueMicrotask(() => {
                    throw error;
                });
            }
        }
    }
}
//# sourceMappingURL=emitter.js.map