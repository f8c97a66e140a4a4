/**
 * The README's screenshot of the live view (docs/view.png): a short on-chip training (4 epochs of 600
 * images, 400-16-10 on a 416 x 64 linear board over emu://) with `--view`, watched by Debian's
 * chromium through playwright-core until the run completes.
 *
 *   node --import tsx scripts/view-screenshot.ts [OUT.png]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.ts";
import { launchChromium } from "../tools/chromium.ts";

const out = process.argv[2] ?? join(import.meta.dirname, "..", "docs", "view.png");
let printed = "";
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array) => {
  printed += String(chunk);
  return write(chunk);
}) as typeof process.stdout.write;

const run = main([
  "node",
  "xbar",
  "train",
  "--rule",
  "onchip",
  "--port",
  "emu://?rows=416&cols=64&device=linear&seed=1",
  "--epochs",
  "4",
  "--images-per-epoch",
  "600",
  "--test-images",
  "300",
  "--hidden",
  "16",
  "--view",
  "0",
  "--view-refresh",
  "1",
]);
let url: string | undefined;
while (!url) {
  url = /view on (http:\/\/\S+\/)/.exec(printed)?.[1];
  await new Promise((r) => setTimeout(r, 100));
}
const profile = mkdtempSync(join(tmpdir(), "xbar-chromium-"));
const browser = await launchChromium(profile);
try {
  browser.setDefaultTimeout(600_000);
  const page = await browser.newPage();
  await page.goto(url);
  const code = await run;
  await page.waitForSelector('#status[data-state="completed"]');
  await page.waitForSelector('#confusion[data-label="final"]');
  await page.screenshot({ path: out, fullPage: false });
  process.stderr.write(`view-screenshot: exit ${code}, wrote ${out}\n`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
