/**
 * `xbar view --db FILE`: finished (or running) runs from the run database, with the same charts as the
 * live view. Each run's measurements are replayed into a LiveView of its own, built when a browser
 * asks for it. A finished run's view is kept for the few runs looked at last; a run still going (a
 * worker recording into the shared PostgreSQL) is replayed anew at each request, so a reload shows
 * what was recorded since.
 */
import type { ConductanceMap } from "../board/board.ts";
import type { RunStore } from "../campaigns/store/run-store.ts";
import { LiveView } from "./live-view.ts";

/** Runs kept replayed at once. */
const CACHE = 4;

export class DbView {
  private readonly cache = new Map<number, LiveView>();

  constructor(private readonly store: RunStore) {}

  async runs(): Promise<
    Array<{ id: number; campaign: string; status: string; started: string | null; params: unknown }>
  > {
    const out = [];
    for (const r of await this.store.runs())
      out.push({
        id: r.id,
        campaign: (await this.store.campaign(r.campaignId))?.name ?? String(r.campaignId),
        status: r.status,
        started: r.started,
        params: r.params,
      });
    return out;
  }

  /** The view of one run, or undefined when there is no such run. */
  async view(id: number): Promise<LiveView | undefined> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const run = await this.store.run(id);
    if (!run) return undefined;
    const c = await this.store.campaign(run.campaignId);
    const view = new LiveView("db", `run ${run.id} of campaign ${c?.id} "${c?.name}" (${run.status})`);
    const identity = run.identity as { rows?: number; cols?: number; technology?: string } | undefined;
    const rows = identity?.rows ?? 0;
    const cols = identity?.cols ?? 0;
    let g: Float32Array | undefined;
    const steps = await this.store.steps(run.id);
    view.campaignPlan(
      c?.name ?? "",
      [`run ${run.id} on ${run.url}`, `config ${JSON.stringify(run.config)}`],
      [{ id: run.id, status: run.status }],
    );
    for (const s of steps) view.campaignStep(run.id, s.idx, s.kind, s.status);
    for (const m of await this.store.measurements(run.id)) {
      view.measurement(m, m.stepKind);
      if ((m.kind === "map" || m.kind === "retention") && m.array && rows > 0) {
        const meta = m.meta as { r0: number; c0: number; rows: number; cols: number };
        g ??= new Float32Array(rows * cols).fill(Number.NaN);
        const block: ConductanceMap = { ...meta, data: Float32Array.from(m.array.data) };
        for (let r = 0; r < block.rows; r++)
          g.set(block.data.subarray(r * block.cols, (r + 1) * block.cols), (block.r0 + r) * cols + block.c0);
        view.hub.set("map/0", {
          board: 0,
          rows,
          cols,
          source: `${m.kind} (step ${m.stepIdx + 1})`,
          at: Date.parse(m.taken),
          data: Buffer.from(g.buffer, g.byteOffset, g.byteLength).toString("base64"),
        });
      }
    }
    view.hub.set("board/0", { index: 0, url: run.url, rows, cols, technology: identity?.technology ?? "" });
    const done = ["completed", "aborted", "failed"].includes(run.status);
    view.status(
      run.status === "completed"
        ? "completed"
        : run.status === "failed"
          ? "failed"
          : done
            ? "stopped"
            : "running",
      `${run.started ?? ""} to ${run.ended ?? "…"}${run.error ? `: ${run.error}` : ""}`,
    );
    if (!done) return view;
    this.cache.set(id, view);
    if (this.cache.size > CACHE) this.cache.delete(this.cache.keys().next().value!);
    return view;
  }
}
