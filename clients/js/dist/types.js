/**
 * Public types of the SDK (protocol v1, see docs/protocol.md). The ones that are wire messages
 * as sent (snake_case) come from the generated `protocol.ts`; the SDK's own are camelCase.
 */
export {};
//# sourceMappingURL=types.js.map