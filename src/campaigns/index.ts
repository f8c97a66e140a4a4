/** `xbar/campaigns`: campaign files (YAML), their plan, the runner, the run store and exports. */
export * from "./load.ts";
export * from "./plan.ts";
export * from "./runner.ts";
export * from "./schema.ts";
export * from "./store/export.ts";
export * from "./store/run-store.ts";
