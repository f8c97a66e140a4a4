/**
 * The view's HTTP server (plain node:http, Server-Sent Events for the push):
 *
 *   GET  /                 the page (src/view/page/), its script and style, uPlot from node_modules
 *   GET  /events[?run=ID]  SSE: frames of the hub (see hub.ts), then this client's own counts
 *   POST /stop             what Ctrl-C does (the run stops, keeps what it measured, exits 130)
 *   POST /refresh          asks for a map refresh (the run's refresher rate-limits it)
 *   GET  /api/runs         --db: the runs of the database
 *   POST /login            token=... in the body: a session cookie (remote views only)
 *
 * Every asset comes from the package (no CDN). POSTs must carry `X-Xbar: 1`, a header a page of another
 * origin cannot send without a CORS preflight that this server never grants.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorCode, XbarError } from "../../firmware-protocol/index.ts";
import { Access, COOKIE, checkListen, LOOPBACK } from "./access.ts";
import { MAX_CLIENTS, type ViewHub } from "./hub.ts";

export interface ViewServerOptions {
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Port; default 0 (any free port). */
  port?: number;
  /** Needed for an address other than loopback. */
  allowRemote?: boolean;
  /** Token every request must present when not on loopback. */
  token?: string;
  /** The hub a client's events come from (`run` is the ?run= of /events, --db mode); undefined: 404. */
  hubFor: (run: string | null) => ViewHub | undefined;
  /** The Stop button; absent: the button is hidden and /stop answers 404. */
  onStop?: () => void;
  /** The refresh button; absent: 404. */
  onRefresh?: () => void;
  /** JSON answers of GET /api/NAME (--db mode). */
  api?: Record<string, () => unknown>;
  /** Browsers at once; default MAX_CLIENTS. */
  maxClients?: number;
}

export interface ViewServer {
  /** http://HOST:PORT/ (no token in it). */
  readonly url: string;
  readonly port: number;
  /** Ends every SSE stream and stops listening. */
  close(): Promise<void>;
}

const HERE = dirname(fileURLToPath(import.meta.url));
/**
 * The page's files: beside this module when it runs from the sources (src/view/), in the package's
 * src/view/page/ (shipped as they are, see package.json "files") when it runs compiled from dist/src/view/.
 */
const PAGE_DIR = [join(HERE, "page"), join(HERE, "..", "..", "..", "src", "view", "page")].find((d) =>
  existsSync(join(d, "index.html")),
);
const require = createRequire(import.meta.url);

interface Asset {
  type: string;
  body: Buffer;
}

let assets: Map<string, Asset> | undefined;
function loadAssets(): Map<string, Asset> {
  if (assets) return assets;
  if (!PAGE_DIR) throw new XbarError(ErrorCode.INTERNAL, `the view's page is missing beside ${HERE}`);
  const uplot = dirname(require.resolve("uplot/dist/uPlot.iife.min.js"));
  assets = new Map<string, Asset>([
    ["/", { type: "text/html; charset=utf-8", body: readFileSync(join(PAGE_DIR, "index.html")) }],
    ["/app.js", { type: "text/javascript; charset=utf-8", body: readFileSync(join(PAGE_DIR, "app.js")) }],
    ["/style.css", { type: "text/css; charset=utf-8", body: readFileSync(join(PAGE_DIR, "style.css")) }],
    [
      "/uplot.js",
      { type: "text/javascript; charset=utf-8", body: readFileSync(join(uplot, "uPlot.iife.min.js")) },
    ],
    ["/uplot.css", { type: "text/css; charset=utf-8", body: readFileSync(join(uplot, "uPlot.min.css")) }],
  ]);
  return assets;
}

const LOGIN_FORM = `<!doctype html><meta charset="utf-8"><title>xbar view: token</title>
<form method="post" action="login"><label>token <input name="token" type="password" autofocus></label>
<button>open the view</button></form>`;

const SECURITY_HEADERS = {
  "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra = {}) {
  res.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": type, ...extra });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      body += d;
      if (body.length > limit) {
        reject(new Error("body too large"));
        req.destroy();
      }
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

export async function startViewServer(o: ViewServerOptions): Promise<ViewServer> {
  const host = o.host ?? "127.0.0.1";
  checkListen(host, o.allowRemote, o.token);
  const access = new Access(o.token, LOOPBACK.has(host));
  const files = loadAssets();
  const streams = new Set<ServerResponse>();
  const maxClients = o.maxClients ?? MAX_CLIENTS;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://view");
    if (!access.hostAllowed(req)) return send(res, 403, "text/plain", "forbidden: unexpected Host\n");
    if (url.pathname === "/login" && req.method === "POST" && access.required) {
      const token = new URLSearchParams(await readBody(req, 1024)).get("token") ?? "";
      const sid = access.login(token);
      if (!sid) return send(res, 401, "text/html; charset=utf-8", LOGIN_FORM);
      return send(res, 303, "text/plain", "", {
        Location: "./",
        "Set-Cookie": `${COOKIE}=${sid}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    if (!access.allowed(req)) {
      req.resume();
      return send(res, 401, "text/html; charset=utf-8", LOGIN_FORM, { "WWW-Authenticate": "Bearer" });
    }
    if (req.method === "POST") {
      if (req.headers["x-xbar"] !== "1") return send(res, 403, "text/plain", "forbidden: missing X-Xbar\n");
      req.resume();
      const action =
        url.pathname === "/stop" ? o.onStop : url.pathname === "/refresh" ? o.onRefresh : undefined;
      if (!action) return send(res, 404, "text/plain", "not found\n");
      action();
      return send(res, 202, "application/json", '{"ok":true}');
    }
    if (req.method !== "GET") return send(res, 405, "text/plain", "method not allowed\n");
    const asset = files.get(url.pathname);
    if (asset) return send(res, 200, asset.type, asset.body);
    if (url.pathname.startsWith("/api/")) {
      const fn = o.api?.[url.pathname.slice(5)];
      if (!fn) return send(res, 404, "text/plain", "not found\n");
      return send(res, 200, "application/json", JSON.stringify(fn()));
    }
    if (url.pathname === "/events") {
      const hub = o.hubFor(url.searchParams.get("run"));
      if (!hub) return send(res, 404, "text/plain", "no such run\n");
      if (streams.size >= maxClients)
        return send(res, 503, "text/plain", `too many viewers (at most ${maxClients})\n`);
      return stream(hub, res, streams, { stop: Boolean(o.onStop), refresh: Boolean(o.onRefresh) });
    }
    send(res, 404, "text/plain", "not found\n");
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 400, "text/plain", "bad request\n");
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: async () => {
      for (const r of streams) r.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One SSE client: frames from the hub when its socket has drained, then its own counts. */
function stream(
  hub: ViewHub,
  res: ServerResponse,
  streams: Set<ServerResponse>,
  controls: { stop: boolean; refresh: boolean },
): void {
  // The request timeout does not apply to a stream that stays open.
  res.socket?.setTimeout(0);
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    "Content-Type": "text/event-stream; charset=utf-8",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no", // nginx: do not buffer the stream
  });
  res.write(`event: controls\ndata: ${JSON.stringify(controls)}\n\n`);
  streams.add(res);
  const { stats, detach } = hub.attach({
    ready: () => !res.writableNeedDrain && !res.destroyed,
    buffered: () => Math.max(res.writableLength, res.socket?.writableLength ?? 0),
    send: (frame) => {
      res.write(`event: frame\ndata: ${frame}\n\n`);
      res.write(
        `event: client\ndata: ${JSON.stringify({ coalesced: stats.coalesced, deferred: stats.deferred, resets: stats.resets, frames: stats.frames, clients: hub.clientCount })}\n\n`,
      );
    },
  });
  const end = () => {
    detach();
    streams.delete(res);
  };
  res.on("close", end);
  res.on("error", end);
}
