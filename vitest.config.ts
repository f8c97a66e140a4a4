import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Compiles dist/ once: the tests that run the real `xbar` command load it (bin/xbar.mjs).
    globalSetup: ["test/setup/build-dist.ts"],
    // Child processes and native serial bindings behave best in forked workers.
    pool: "forks",
    // Both cores of a 2-core machine (vitest's default leaves one idle); the tests' time limits are
    // derived from measured durations, so they hold when the two workers load the machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
