/**
 * The live view in a real browser: Debian's chromium, headless, driven by playwright-core (no browser
 * is downloaded; .ci/run installs chromium with apt). One browser for the file:
 * - `xbar train --view` on an emulated board served on TCP: the heat map and the learning curve update
 *   as epochs finish, and the counters on the page match `xbar stat` after the run;
 * - `xbar run --view` of a training campaign: Stop on the page ends the run with exit 130 and a run
 *   the database can resume.
 * The CLI runs in this process (`main(argv)`); a screenshot is saved in test-results/ (the README's
 * docs/view.png comes from a longer run: scripts/view-screenshot.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startEmulatorServer } from "../src/board/connect.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { main } from "../src/cli/main.ts";
import { openDbView } from "../src/cli/view.ts";
import { REPO_ROOT } from "./helpers/run-xbar.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAVE = existsSync(CHROMIUM);
if (!HAVE && process.env.CI) throw new Error(`${CHROMIUM} is required in CI (apt-get install chromium)`);
if (!HAVE) console.warn(`view-browser: ${CHROMIUM} not found, skipped (apt-get install chromium)`);

const ARTEFACTS = join(REPO_ROOT, "test-results");
/**
 * Time limit of each test, and of each wait in the page. Each test took 20 to 60 s on a 2-core machine
 * at load average 20 to 34 (other jobs; its CPU time is a fraction of that); the limit leaves room for
 * such a machine, and a hang still fails.
 */
const LIMIT_MS = Number(process.env.VIEW_LIMIT_MS ?? 240_000);
/** Time limit of one wait for the page once the run it shows has ended (it has nothing left to do). */
const WAIT_MS = 30_000;
/** A board just large enough for the 400-16-10 network on differential pairs. */
const BOARD = { rows: 416, cols: 64, device: "linear", seed: 1 };

/** Runs `xbar ARGS` in this process; captures what it prints. */
function xbar(args: string[]): { done: Promise<number>; output: () => string } {
  let text = "";
  const write = process.stdout.write.bind(process.stdout);
  const spy = vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array) => {
    text += String(chunk);
    return write(chunk);
  }) as typeof process.stdout.write);
  process.exitCode = undefined;
  const done = main(["node", "xbar", ...args]).finally(() => {
    spy.mockRestore();
    process.exitCode = undefined;
  });
  return { done, output: () => text };
}

async function viewUrl(output: () => string, timeoutMs = 20_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const m = /view on (http:\/\/\S+\/)/.exec(output());
    if (m) return m[1]!;
    if (Date.now() - t0 > timeoutMs) throw new Error(`no view address printed: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!HAVE)("the live view in chromium", () => {
  let browser: BrowserContext;
  let profile: string;
  let work: string;
  let emu: Awaited<ReturnType<typeof startEmulatorServer>>;

  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), "xbar-chromium-"));
    work = mkdtempSync(join(tmpdir(), "xbar-view-"));
    mkdirSync(ARTEFACTS, { recursive: true });
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1500, height: 1000 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    browser.setDefaultTimeout(LIMIT_MS);
    emu = await startEmulatorServer({ ...BOARD, listen: { host: "127.0.0.1", port: 0 } });
  });

  afterAll(async () => {
    await browser?.close();
    await emu?.stop();
    rmSync(profile, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it(
    "xbar train --view: the map and the learning curve update per epoch; counters match xbar stat",
    async () => {
      const run = xbar([
        "train",
        "--rule",
        "onchip",
        "--port",
        emu.url,
        "--epochs",
        "2",
        "--images-per-epoch",
        "100",
        "--test-images",
        "50",
        "--hidden",
        "16",
        "--view",
        "0",
        "--view-refresh",
        "0.1",
        "--view-wait",
      ]);
      const url = await viewUrl(run.output);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await browser.newPage();
      // The page records, as it renders, each new epoch count and each new map: the order is then
      // checked after the run, free of races between the run and this test's own polling.
      await page.addInitScript(() => {
        const w = window as unknown as { xbarLog: string[] };
        w.xbarLog = [];
        new MutationObserver((records) => {
          for (const r of records) {
            const el = r.target as HTMLElement;
            if (el.id === "epochs-note" && r.attributeName === "data-epochs")
              w.xbarLog.push(`epochs ${el.dataset.epochs}`);
            if (el.id === "map-0" && r.attributeName === "data-at") w.xbarLog.push(`map ${el.dataset.at}`);
          }
        }).observe(document, {
          subtree: true,
          attributes: true,
          attributeFilter: ["data-epochs", "data-at"],
        });
      });
      await page.goto(url);
      expect(await run.done).toBe(0);
      await page.waitForSelector('#status[data-state="completed"]', { timeout: WAIT_MS });
      await page.waitForSelector('#epochs-note[data-epochs="2"]', { timeout: WAIT_MS });
      await page.waitForSelector('#confusion[data-label="final"]', { timeout: WAIT_MS });
      expect(Number(await page.getAttribute("#map-0", "data-known"))).toBe(BOARD.rows * BOARD.cols);
      expect(await page.locator("#acc-chart canvas").count()).toBeGreaterThan(0);
      // The learning curve grew an epoch at a time, and the map was read again after the first epoch.
      const log = await page.evaluate(() => (window as unknown as { xbarLog: string[] }).xbarLog);
      const epochs = log.filter((e) => e.startsWith("epochs ") && e !== "epochs 0");
      expect(epochs[0]).toBe("epochs 1");
      expect(epochs.at(-1)).toBe("epochs 2");
      const first = log.indexOf("epochs 1");
      const mapAt = (e: string) => Number(e.slice(4));
      const before = log
        .slice(0, first)
        .filter((e) => e.startsWith("map "))
        .map(mapAt);
      const after = log
        .slice(first)
        .filter((e) => e.startsWith("map "))
        .map(mapAt);
      expect(
        after.some((t) => t > Math.max(0, ...before)),
        log.join(", "),
      ).toBe(true);
      const shown = await page.$$eval("#counters-0 td[data-k]", (tds) =>
        Object.fromEntries(tds.map((td) => [(td as HTMLElement).dataset.k, (td as HTMLElement).dataset.v])),
      );
      await page.screenshot({ path: join(ARTEFACTS, "view-train.png"), fullPage: true });
      await page.close();

      const stat = xbar(["stat", "--json", "--port", emu.url]);
      expect(await stat.done).toBe(0);
      const board = JSON.parse(stat.output().trim().split("\n").pop()!) as Record<string, number>;
      expect(Number(shown.pulses)).toBe(board.pulses);
      expect(Number(shown.reads)).toBe(board.reads);
      expect(Number(shown.vmms)).toBe(board.vmms);
      expect(Number(shown.energy)).toBeCloseTo(board.energy!, 12);
      expect(board.pulses).toBeGreaterThan(0);
    },
    LIMIT_MS,
  );

  it(
    "xbar run --view: Stop on the page ends the run with exit 130, and the run can be resumed",
    async () => {
      const file = join(work, "train.yaml");
      const db = join(work, "runs.sqlite");
      writeFileSync(
        file,
        `name: view-stop
board: emu://?rows=${BOARD.rows}&cols=${BOARD.cols}&device=linear&seed=2
steps:
  - identify: {}
  - train: { rule: onchip, epochs: 50, imagesPerEpoch: 100, testImages: 50, hidden: 16, crop: 20, seed: 1 }
`,
      );
      const run = xbar(["run", file, "--db", db, "--view", "0", "--view-refresh", "0.2", "--view-wait"]);
      const page = await browser.newPage();
      await page.goto(await viewUrl(run.output));
      await page.waitForFunction(() => Number(document.getElementById("epochs-note")?.dataset.epochs) >= 1);
      expect(await page.locator("#plan").textContent()).toContain('campaign "view-stop"');
      await page.click("#stop");
      expect(await run.done).toBe(130);
      expect(run.output()).toMatch(/aborted; resume with: xbar run --resume \d+/);
      await page.waitForSelector('#status[data-state="stopped"]');
      await page.close();

      const store = await RunStore.openForReading(db);
      const [r] = await store.runs();
      const steps = await store.steps(r!.id);
      await store.close();
      expect(r!.status).toBe("aborted");
      expect(steps.map((s) => `${s.kind}:${s.status}`)).toEqual(["identify:completed", "train:interrupted"]);
      const resume = xbar(["run", "--resume", String(r!.id), "--db", db, "--dry-run"]);
      expect(await resume.done).toBe(0);
      expect(resume.output()).toContain(`runs ${r!.id} (aborted)`);

      // `xbar view --db`: the same run, read back from the database, with the same charts.
      const dbView = await openDbView(db, { host: "127.0.0.1", port: 0 });
      try {
        const p = await browser.newPage();
        await p.goto(dbView.url);
        // (The database view shows completed attempts only, as exports and plots do: here the identify step.)
        await p.waitForSelector('#steps li[data-status="interrupted"]');
        await p.waitForSelector('#steps li[data-status="completed"]');
        expect(await p.locator("#runs option").count()).toBe(1);
        await p.waitForSelector('#status[data-state="stopped"]');
        await p.close();
      } finally {
        await dbView.close();
      }
    },
    LIMIT_MS,
  );
});
