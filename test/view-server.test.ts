/**
 * The live view's server without a browser: coalescing in the hub, a stalled viewer that neither slows
 * a paced producer nor makes the server hold more than one frame beyond the socket's buffer for it, and
 * access (loopback Host check; a remote view refused without the token, nothing of the page served).
 */
import { type Socket, connect as tcpConnect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.ts";
import { ViewHub } from "../src/view/hub.ts";
import { startViewServer, type ViewServer } from "../src/view/server.ts";

const servers: ViewServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A raw SSE client: connects, sends the request, and can stop reading (a stalled browser). */
function rawClient(port: number, path = "/events"): Promise<{ socket: Socket; received: () => number }> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const socket = tcpConnect(port, "127.0.0.1", () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
      resolve({ socket, received: () => n });
    });
    socket.on("data", (d) => {
      n += d.length;
    });
    socket.on("error", reject);
  });
}

describe("view hub", () => {
  it("sends a client the latest value only, and counts what it coalesced", async () => {
    const hub = new ViewHub();
    const frames: string[] = [];
    const { stats, detach } = hub.attach({
      ready: () => true,
      send: (f) => frames.push(f),
      buffered: () => 0,
    });
    for (let k = 1; k <= 5; k++) hub.set("counters/0", { pulses: k });
    hub.tick();
    detach();
    hub.close();
    const last = JSON.parse(frames[frames.length - 1]!) as Array<{
      topic: string;
      value: { pulses: number };
    }>;
    expect(last).toEqual([{ topic: "counters/0", value: { pulses: 5 } }]);
    expect(stats.coalesced).toBe(4); // versions 1 to 4 were replaced before the tick
  });

  it("resends a series from its start to a client whose cursor fell off the bounded series", () => {
    const hub = new ViewHub({ seriesCap: 100, seriesChunk: 1000 });
    let ready = true;
    const frames: string[] = [];
    const { stats, detach } = hub.attach({
      ready: () => ready,
      send: (f) => frames.push(f),
      buffered: () => 0,
    });
    hub.append("epochs", 0);
    hub.tick();
    ready = false;
    for (let k = 1; k <= 300; k++) hub.append("epochs", k);
    hub.tick();
    ready = true;
    hub.tick();
    detach();
    hub.close();
    const last = JSON.parse(frames[frames.length - 1]!) as Array<{ reset: boolean; points: number[] }>;
    expect(last[0]!.reset).toBe(true);
    expect(last[0]!.points[last[0]!.points.length - 1]).toBe(300);
    expect(last[0]!.points.length).toBeLessThanOrEqual(100);
    expect(stats.resets).toBe(1);
    expect(stats.deferred).toBe(1);
  });
});

describe("a stalled viewer", () => {
  it("does not slow a paced producer, and the server holds at most one frame beyond the socket buffer for it", async () => {
    // 512 x 512 conductances: 1 MiB, 1.4 MB of base64 per frame; 50 frames/s offered to the viewer.
    const SIDE = 512;
    const STEPS = 60;
    const PACE_MS = 10;
    const hub = new ViewHub({ frameRate: 50 });
    const server = await startViewServer({ hubFor: () => hub });
    servers.push(server);
    const g = new Float32Array(SIDE * SIDE);
    let maxFrame = 0;
    const produce = async () => {
      const t0 = performance.now();
      for (let k = 0; k < STEPS; k++) {
        g.fill(k * 1e-6);
        const copy = g.slice();
        hub.set("map/0", () => {
          const json = { data: Buffer.from(copy.buffer).toString("base64") };
          maxFrame = Math.max(maxFrame, json.data.length + 100);
          return json;
        });
        await new Promise((r) => setTimeout(r, PACE_MS));
      }
      return performance.now() - t0;
    };
    const alone = await produce();
    const stalled = await rawClient(server.port);
    // Let it take frames until the kernel's buffers are full, then stop reading for good.
    stalled.socket.pause();
    const heap0 = process.memoryUsage();
    const withStalled = await produce();
    const heap1 = process.memoryUsage();
    const [c] = hub.clientStats();
    stalled.socket.destroy();
    // The viewer fell behind: frames were deferred, and it got fewer maps than were produced ...
    expect(c!.deferred).toBeGreaterThan(0);
    expect(c!.frames).toBeLessThan(STEPS);
    // ... and what the server holds for it is the socket buffer (16 KiB high-water mark) plus one frame.
    expect(c!.buffered).toBeLessThanOrEqual(16 * 1024 + 2 * maxFrame);
    // (Were every frame queued for it, the server would hold STEPS frames, 84 MB. The heap figure below is
    // printed only: it moves with the garbage collector, while `buffered` is what the server holds.)
    const grown =
      heap1.heapUsed +
      heap1.arrayBuffers +
      heap1.external -
      (heap0.heapUsed + heap0.arrayBuffers + heap0.external);
    // The producer's pace is the same within the noise of timers: STEPS x PACE_MS either way.
    expect(withStalled).toBeLessThan(alone * 1.5 + 150);
    console.log(
      `view stall: producer ${alone.toFixed(0)} ms alone, ${withStalled.toFixed(0)} ms with a stalled viewer; ` +
        `viewer: ${c!.frames} frames, ${c!.deferred} deferred, ${c!.coalesced} coalesced, ${c!.buffered} B buffered (frame ${maxFrame} B); memory growth ${(grown / 1e6).toFixed(1)} MB`,
    );
    hub.close();
  });
});

describe("access", () => {
  it("refuses another address without --allow-remote and a token, before binding", async () => {
    const hub = new ViewHub();
    await expect(startViewServer({ host: "0.0.0.0", hubFor: () => hub })).rejects.toMatchObject({
      code: 608,
    });
    await expect(
      startViewServer({ host: "0.0.0.0", allowRemote: true, hubFor: () => hub }),
    ).rejects.toMatchObject({
      code: 608,
    });
    await expect(
      startViewServer({ host: "0.0.0.0", allowRemote: true, token: "short", hubFor: () => hub }),
    ).rejects.toMatchObject({ code: 608 });
  });

  it("serves nothing of the page to a remote viewer without the token; the token opens it once", async () => {
    const hub = new ViewHub();
    let stops = 0;
    const token = "s3cret-token-123";
    const server = await startViewServer({
      host: "0.0.0.0",
      allowRemote: true,
      token,
      hubFor: () => hub,
      onStop: () => stops++,
    });
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;
    for (const path of ["/", "/app.js", "/uplot.js", "/style.css", "/events", "/api/runs"]) {
      const r = await fetch(base + path);
      const body = await r.text();
      expect(r.status, path).toBe(401);
      expect(body).not.toContain('id="maps"');
      expect(body).not.toContain("EventSource");
    }
    const stop = await fetch(`${base}/stop`, { method: "POST", headers: { "X-Xbar": "1" } });
    expect(stop.status).toBe(401);
    expect(stops).toBe(0);
    const wrong = await fetch(`${base}/login`, { method: "POST", body: "token=nope", redirect: "manual" });
    expect(wrong.status).toBe(401);
    // A script or a reverse proxy: the Authorization header.
    const bearer = await fetch(base, { headers: { Authorization: `Bearer ${token}` } });
    expect(bearer.status).toBe(200);
    expect(await bearer.text()).toContain('id="maps"');
    // A browser: the login form once, then a session cookie that is not the token.
    const login = await fetch(`${base}/login`, {
      method: "POST",
      body: `token=${token}`,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    expect(cookie).not.toContain(token);
    const page = await fetch(base, { headers: { Cookie: cookie } });
    expect(page.status).toBe(200);
    const s = await fetch(`${base}/stop`, { method: "POST", headers: { Cookie: cookie, "X-Xbar": "1" } });
    expect(s.status).toBe(202);
    expect(stops).toBe(1);
  });

  it("on loopback, refuses a foreign Host header (DNS rebinding) and a Stop without X-Xbar", async () => {
    const hub = new ViewHub();
    let stops = 0;
    const server = await startViewServer({ hubFor: () => hub, onStop: () => stops++ });
    servers.push(server);
    const c = await rawClient(server.port, "/");
    c.socket.destroy();
    const r = await new Promise<string>((resolve) => {
      const s = tcpConnect(server.port, "127.0.0.1", () =>
        s.write("GET / HTTP/1.1\r\nHost: attacker.example:80\r\nConnection: close\r\n\r\n"),
      );
      let text = "";
      s.on("data", (d) => {
        text += d;
      });
      s.on("end", () => resolve(text));
    });
    expect(r).toMatch(/^HTTP\/1.1 403/);
    const stop = await fetch(`${server.url}stop`, { method: "POST" });
    expect(stop.status).toBe(403);
    expect(stops).toBe(0);
    expect((await fetch(server.url)).status).toBe(200);
  });
});

describe("xbar view and --view refuse bad input before anything runs", () => {
  /** Runs `xbar ARGS` in this process; returns the exit status and what went to stderr. */
  async function xbar(args: string[]): Promise<{ code: number; err: string }> {
    let err = "";
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      const code = await main(["node", "xbar", ...args]);
      return { code, err };
    } finally {
      process.stderr.write = write;
      process.exitCode = undefined;
    }
  }

  it("a view on another address without --allow-remote, a missing database, neither --port nor --db", async () => {
    const remote = await xbar(["train", "--rule", "software", "--epochs", "1", "--view", "0.0.0.0:0"]);
    expect(remote.code).toBe(2);
    expect(remote.err).toContain("E608");
    expect(remote.err).toContain("--allow-remote");
    const noToken = await xbar(["view", "--db", "x.sqlite", "--listen", "0.0.0.0:0", "--allow-remote"]);
    expect(noToken.code).toBe(2);
    expect(noToken.err).toContain("needs a token");
    const missing = await xbar(["view", "--db", "/nonexistent/runs.sqlite"]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("no run database at /nonexistent/runs.sqlite");
    expect((await xbar(["view"])).code).toBe(2);
  });
});
