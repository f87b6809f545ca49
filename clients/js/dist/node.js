/**
 * The Node.js entry: `RunnelClient` with the `ws` package as its WebSocket (Node 20 has no
 * global one). Everything else is the same as the browser entry.
 */
import WebSocket from "ws";
import { RunnelClient as CoreClient } from "./client.js";
export * from "./index.js";
export class RunnelClient extends CoreClient {
    constructor(options) {
        super({ ...options, WebSocket: options.WebSocket ?? WebSocket });
    }
}
//# sourceMappingURL=node.js.map