import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Compiles dist/ once: the tests that run the real `xbar` command load it (bin/xbar.mjs).
    globalSetup: ["test/setup/build-dist.ts"],
    // Child processes and native serial bindings behave best in forked workers.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
