/**
 * The Node.js entry: `RunnelClient` with the `ws` package as its WebSocket (Node 20 has no
 * global one). Everything else is the same as the browser entry.
 */
import { RunnelClient as CoreClient } from "./client.js";
import type { ClientOptions } from "./types.js";
export * from "./index.js";
export declare class RunnelClient extends CoreClient {
    constructor(options: ClientOptions);
}
//# sourceMappingURL=node.d.ts.map