/**
 * Vega-Lite in one place: the schema line every spec carries, and a spec rendered to SVG by vega's
 * headless renderer (no browser, no canvas). Used by the campaign plots, the retraining picture and
 * the figure scripts; PNG from that SVG is campaigns/plots/png.ts. Import it lazily where start-up
 * matters: vega is large.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** `spec` with the Vega-Lite schema line first. */
export function vegaLite(spec: TopLevelSpec): TopLevelSpec {
  return { $schema: VEGA_LITE_SCHEMA, ...spec };
}

/** A Vega-Lite spec rendered to SVG text, ending with a newline. */
export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const out = await view.toSVG();
  view.finalize();
  return `${out}\n`;
}
