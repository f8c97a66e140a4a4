/** Drivers: transports and the instrument clients. Imports firmware-protocol/ only. */

export * from "../firmware-protocol/errors.ts";
export * from "./crossbar-client.ts";
export * from "./list-ports.ts";
export * from "./open-transport.ts";
export * from "./stream-transport.ts";
export * from "./transport.ts";
