/**
 * Public types of the SDK and the wire messages it reads (protocol v1, see docs/protocol.md).
 */
export {};
//# sourceMappingURL=types.js.map