/**
 * A live view attached to a run (`xbar train --view`, `xbar run --view`, `xbar view --port`): the
 * LiveView with its map refresher, served until the run ends. At the end the final state (status,
 * counters, a last map refresh when refreshes are on) is pushed, the browsers get a moment to receive
 * it, and the server closes; the page keeps what it shows and says the run ended.
 */
import { LiveView, type RunState, type ViewMode } from "./live-view.ts";
import { MapRefresher } from "./refresh.ts";
import { startViewServer, type ViewServer } from "./server.ts";

export interface RunViewOptions {
  host: string;
  port: number;
  allowRemote?: boolean;
  token?: string;
  /** Seconds between map refreshes, at least; 0: none. */
  refresh: number;
  mode: ViewMode;
  title: string;
  /** What the Stop button does (the same as Ctrl-C). */
  onStop: () => void;
}

/** Longest wait for the browsers to receive the final frame before the server closes, ms. */
const LINGER_MS = 500;

export class RunView {
  private constructor(
    readonly view: LiveView,
    readonly refresher: MapRefresher,
    readonly server: ViewServer,
  ) {}

  static async start(o: RunViewOptions): Promise<RunView> {
    const view = new LiveView(o.mode, o.title);
    const refresher = new MapRefresher(view.hub, () => view.watches, o.refresh);
    const server = await startViewServer({
      host: o.host,
      port: o.port,
      allowRemote: o.allowRemote,
      token: o.token,
      hubFor: (run) => (run === null ? view.hub : undefined),
      onStop: () => {
        view.status("stopping", "Stop pressed on the page");
        o.onStop();
      },
      onRefresh: () => refresher.request("button on the page"),
    });
    return new RunView(view, refresher, server);
  }

  /** Resolves when a browser is connected (`--view-wait`: start the run once someone watches). */
  async waitForViewer(until?: AbortSignal): Promise<void> {
    while (this.view.hub.clientCount === 0 && !until?.aborted) await new Promise((r) => setTimeout(r, 50));
  }

  get url(): string {
    return this.server.url;
  }

  private finished = false;

  /**
   * Final counters (and map), the final status, a moment for the browsers, then the server closes.
   * Once only: later calls (a `finally` after an error) just return.
   */
  async finish(state: RunState, detail?: string, exit?: number, boardsOpen = true): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (boardsOpen) await this.refresher.final().catch(() => {});
    else await this.refresher.settle().catch(() => {});
    this.view.status(state, detail, exit);
    const hub = this.view.hub;
    hub.tick();
    const t0 = Date.now();
    while (Date.now() - t0 < LINGER_MS && hub.clientStats().some((c) => c.buffered > 0)) {
      await new Promise((r) => setTimeout(r, 20));
      hub.tick();
    }
    hub.close();
    await this.server.close();
  }
}
