/** The HTTP side: URLs derived from the socket URL, and JSON or bytes over `fetch`. */
/** The WebSocket URL and the HTTP base of a server, from either form. */
export declare function serverUrls(input: string): {
    ws: string;
    http: string;
};
export type Accept = "json" | "bytes" | "none";
/** One HTTP call with Bearer auth; errors become `RunnelError`s with the server's code. */
export declare function request<T>(fetcher: typeof fetch, base: string, apiKey: string, method: string, path: string, body?: unknown, accept?: Accept): Promise<T>;
//# sourceMappingURL=http.d.ts.map