/** The xbar line protocol: see PROTOCOL.md (normative). */
export * from "./checksum.ts";
export * from "./command-types.ts";
export * from "./commands.ts";
export * from "./constants.ts";
export * from "./envelope.ts";
export * from "./errors.ts";
export * from "./framing.ts";
export * from "./message.ts";
export * from "./packed.ts";
export * from "./redact.ts";
export * from "./request.ts";
