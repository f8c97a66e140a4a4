/**
 * SVG plots (src/vega.ts renders them) to PNG: resvg compiled to WebAssembly, with the Inter font
 * shipped as TTF by @expo-google-fonts/inter (the WASM renderer sees no system fonts, so a machine
 * without any still draws the axes' text). `FONT` is the font the plots' specs name.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { initWasm, Resvg } from "@resvg/resvg-wasm";

const require = createRequire(import.meta.url);
export const FONT = "Inter";

let ready: Promise<Uint8Array[]> | undefined;

function init(): Promise<Uint8Array[]> {
  ready ??= (async () => {
    await initWasm(readFileSync(require.resolve("@resvg/resvg-wasm/index_bg.wasm")));
    return ["400Regular/Inter_400Regular.ttf", "700Bold/Inter_700Bold.ttf"].map(
      (f) => new Uint8Array(readFileSync(require.resolve(`@expo-google-fonts/inter/${f}`))),
    );
  })();
  return ready;
}

/** Renders SVG text to PNG at `scale` (2 = twice the SVG's pixel size). */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const fontBuffers = await init();
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: { fontBuffers, defaultFontFamily: FONT, sansSerifFamily: FONT, loadSystemFonts: false },
  });
  const png = r.render().asPng();
  r.free();
  return png;
}
