export * from "./abort-on-unsubscribe.ts";
export * from "./campaign-run.ts";
export * from "./characterize.ts";
export * from "./program-verify.ts";
export * from "./pulses.ts";
export * from "./retention.ts";
export * from "./with-progress.ts";
