/**
 * `xbar view --port URL [--listen [HOST:]PORT]` (watch a board), `xbar view --db FILE|postgres://...`
 * (browse the run database: an SQLite file, or the fleet's shared PostgreSQL), and the `--view [HOST:]PORT` options of `xbar train` and `xbar run` (src/view/).
 */
import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { firstValueFrom } from "rxjs";
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import type { Board } from "../board/board.ts";
import { connect } from "../board/connect.ts";
import { RunStore } from "../campaigns/store/run-store.ts";
import { isPostgresUrl, redactUrl } from "../campaigns/store/sql.ts";
import { checkListen } from "../view/access.ts";
import { DbView } from "../view/db-view.ts";
import type { ViewMode } from "../view/live-view.ts";
import { RunView } from "../view/run-view.ts";
import { startViewServer } from "../view/server.ts";
import { EXIT } from "./common.ts";
import { parseListen } from "./emulate.ts";
import { numArg } from "./options.ts";

/** Environment variable holding the view's token (for --allow-remote). */
export const TOKEN_ENV = "XBAR_VIEW_TOKEN";
/** Default seconds between map refreshes of a run's view. */
export const DEFAULT_REFRESH = 2;

export interface ViewFlags {
  view?: string;
  viewRefresh: number;
  viewAllowRemote?: boolean;
  viewTokenFile?: string;
  viewWait?: boolean;
}

/** The view's token: from a file (first line) or $XBAR_VIEW_TOKEN; never from the command line. */
export function viewToken(file?: string): string | undefined {
  if (file) {
    try {
      return readFileSync(file, "utf8").split(/\r?\n/)[0]!.trim();
    } catch (e) {
      throw new XbarError(ErrorCode.BAD_INPUT, `cannot read the token file ${file}: ${(e as Error).message}`);
    }
  }
  return process.env[TOKEN_ENV] || undefined;
}

/** `--view` and its companions, for `xbar train` and `xbar run`. */
export function addViewOptions(cmd: Command): Command {
  return cmd
    .option(
      "--view <[host:]port>",
      "serve a live view of the run in the browser (127.0.0.1 unless a host is given; 0: any free port)",
    )
    .option(
      "--view-refresh <seconds>",
      "live view: whole-array map reads at most this often, at epoch or step ends (0: never; extra reads)",
      numArg("--view-refresh", (v) => v >= 0, "a non-negative number"),
      DEFAULT_REFRESH,
    )
    .option("--view-allow-remote", "live view: allow an address other than loopback (needs a token)")
    .option("--view-wait", "live view: start the run only once a browser has opened the view")
    .option("--view-token-file <file>", `live view: the token (first line of the file; or $${TOKEN_ENV})`);
}

/** Starts the view of a run when --view was given; prints its address. */
export async function startRunView(
  o: ViewFlags,
  mode: ViewMode,
  title: string,
  onStop: () => void,
  out: (s: string) => void,
  /** Ends a --view-wait (Ctrl-C while waiting for a browser). */
  signal?: AbortSignal,
): Promise<RunView | undefined> {
  if (o.view === undefined) return undefined;
  const { host, port } = parseListen(o.view);
  const view = await RunView.start({
    host,
    port,
    allowRemote: o.viewAllowRemote,
    token: viewToken(o.viewTokenFile),
    refresh: o.viewRefresh,
    mode,
    title,
    onStop,
  });
  out(`view on ${view.url}${o.viewWait ? " (waiting for a browser to open it)" : ""}`);
  if (o.viewWait) await view.waitForViewer(signal);
  return view;
}

/** Calls `onStop` on SIGINT/SIGTERM; returns a function that removes the handlers. */
export function onSignals(onStop: () => void): () => void {
  const h = () => onStop();
  process.on("SIGINT", h);
  process.on("SIGTERM", h);
  return () => {
    process.off("SIGINT", h);
    process.off("SIGTERM", h);
  };
}

export function addViewCommand(program: Command, out: (s: string) => void): void {
  program
    .command("view")
    .description("a live view in the browser: watch a board (--port), or browse the run database (--db)")
    .option("-p, --port <url>", "the board to watch")
    .option(
      "--db <file|url>",
      "browse the runs of this run database instead (an SQLite file, or postgres://USER@HOST/DB)",
    )
    .option(
      "--listen <[host:]port>",
      "address to serve on (default 127.0.0.1:0: loopback, any free port)",
      "0",
    )
    .option(
      "--refresh <seconds>",
      "--port: read the whole array and the counters this often (0: only on the page's button)",
      numArg("--refresh", (v) => v >= 0, "a non-negative number"),
      DEFAULT_REFRESH,
    )
    .option("--allow-remote", "allow an address other than loopback (needs a token)")
    .option("--token-file <file>", `the token for --allow-remote (first line of the file; or $${TOKEN_ENV})`)
    .addHelpText(
      "after",
      `
The page shows the conductance map (hover for row, column and value), the counters and the link; with
--db, each run's maps, device traces, I-V curves, learning curves and confusion matrices. A run shows
live with \`xbar train --view PORT\` or \`xbar run FILE --view PORT\`. See docs/view.md.

Examples:
  xbar view --port socket://127.0.0.1:5025 --listen 8080
  xbar view --db lab.sqlite
  xbar view --db postgres://lab@lab-db/xbar      (the fleet's shared database; workers may be writing)
  XBAR_VIEW_TOKEN=$(openssl rand -hex 16) xbar view --db lab.sqlite --listen 0.0.0.0:8080 --allow-remote`,
    )
    .action(
      async (o: {
        port?: string;
        db?: string;
        listen: string;
        refresh: number;
        allowRemote?: boolean;
        tokenFile?: string;
      }) => {
        if (Boolean(o.port) === Boolean(o.db))
          throw new XbarError(ErrorCode.BAD_INPUT, "give exactly one of --port URL and --db FILE|URL");
        const { host, port } = parseListen(o.listen);
        const token = viewToken(o.tokenFile);
        checkListen(host, o.allowRemote, token);
        if (o.db) return serveDb(o.db, { host, port, allowRemote: o.allowRemote, token }, out);
        return watchBoard(
          o.port!,
          { host, port, allowRemote: o.allowRemote, token, refresh: o.refresh },
          out,
        );
      },
    );
}

export interface Listen {
  host: string;
  port: number;
  allowRemote?: boolean;
  token?: string;
}

/**
 * The --db view's server (what `xbar view --db` serves until Ctrl-C): an SQLite file (which must
 * exist: a mistyped path is named, not answered with an empty database) or a postgres:// URL, read
 * through the run store's async interface either way (each page's request is a query of its own, so
 * runs that workers record into PostgreSQL meanwhile show up).
 */
export async function openDbView(
  path: string,
  l: Listen,
): Promise<{ url: string; runs: number; close(): Promise<void> }> {
  if (!isPostgresUrl(path) && !existsSync(path))
    throw new XbarError(ErrorCode.BAD_INPUT, `no run database at ${path}`);
  const store = await RunStore.openForReading(path);
  const db = new DbView(store);
  const server = await startViewServer({
    ...l,
    hubFor: async (run) => (run === null ? undefined : (await db.view(Number(run)))?.hub),
    api: { runs: () => db.runs() },
  }).catch(async (e) => {
    await store.close();
    throw e;
  });
  return {
    url: server.url,
    runs: (await db.runs()).length,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

async function serveDb(path: string, l: Listen, out: (s: string) => void): Promise<void> {
  const v = await openDbView(path, l);
  out(`view on ${v.url} (${v.runs} run(s) in ${redactUrl(path)}; Ctrl-C to stop)`);
  let stop!: () => void;
  const stopped = new Promise<void>((r) => {
    stop = r;
  });
  const off = onSignals(stop);
  await stopped;
  off();
  await v.close();
}

async function watchBoard(url: string, l: Listen & { refresh: number }, out: (s: string) => void) {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => {
    stop = r;
  });
  const board: Board = await connect(url);
  try {
    const rv = await RunView.start({ ...l, mode: "board", title: `board ${url}`, onStop: stop });
    const observed = rv.view.observe(board);
    rv.view.status("running", "watching: refreshes only, nothing else is sent");
    const poll = () => rv.refresher.request(`every ${l.refresh} s`);
    await firstValueFrom(observed.counters());
    poll();
    const timer = l.refresh > 0 ? setInterval(poll, l.refresh * 1000) : undefined;
    out(`view on ${rv.url} (watching ${url}; Ctrl-C or Stop to end)`);
    const off = onSignals(stop);
    await stopped;
    off();
    if (timer) clearInterval(timer);
    await rv.finish("stopped", "view ended", EXIT.INTERRUPTED);
    process.exitCode = EXIT.INTERRUPTED;
  } finally {
    await board.close();
  }
}
