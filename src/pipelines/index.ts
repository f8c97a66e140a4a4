export * from "./observe-experiment.ts";
export * from "./operators/abort-on-unsubscribe.ts";
export * from "./operators/pulses.ts";
export * from "./operators/with-progress.ts";
export * from "./procedures/characterize.ts";
export * from "./procedures/program-verify.ts";
export * from "./procedures/retention.ts";
