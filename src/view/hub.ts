/**
 * # The view hub: what the page shows, and how each browser gets it without holding up the run
 *
 *   run (RxJS streams, board operations) ──set/append──▶ ViewHub state ──tick (≤ FRAME_RATE/s)──▶ client A
 *                                          O(1), never blocks      │                              client B (slow: skipped)
 *
 * The run only ever writes into the hub's state: `set(topic, value)` replaces a snapshot (the latest
 * map, the counters, the campaign's progress), `append(topic, point)` adds to a bounded series (the
 * learning curve, device traces, I-V points). Neither call touches a socket, so nothing the browsers
 * do can slow the run.
 *
 * A ticker sends each client, at most FRAME_RATE times a second, one frame holding what changed since
 * that client's last frame: snapshots whose version moved (intermediate versions are *coalesced*: the
 * client sees the latest only) and the points of each series after its cursor. A client whose socket
 * has not drained its previous frame is skipped for this tick (a *deferred* frame); nothing is queued
 * for it, so its memory is bounded by the socket's buffer plus one frame (MAX_FRAME_BYTES). A client
 * so far behind that its series cursor fell off the bounded series gets the series again from its
 * start (a *reset*). The page shows each client's coalesced, deferred and reset counts.
 *
 * Snapshot values may be functions, evaluated lazily at most once per version and only when some
 * client is due a frame: a map of 512 x 256 conductances is encoded ten times a second at most,
 * whatever the rate at which the run produces maps.
 */

/** Frames per second sent to a client, at most. */
export const FRAME_RATE = 10;
/** Points a series keeps; older points are dropped (the page is told by a reset). */
export const SERIES_CAP = 20_000;
/** Points of one series sent in one frame (the rest follow in the next frames). */
export const SERIES_CHUNK = 2_000;
/** Browsers connected at once; more are refused (503). */
export const MAX_CLIENTS = 8;

type Lazy = unknown | (() => unknown);

interface Snapshot {
  version: number;
  value: Lazy;
  /** JSON of `value` at `version`, computed at most once. */
  json?: string;
  jsonVersion?: number;
}

interface Series {
  points: unknown[];
  /** Absolute index of points[0]. */
  base: number;
}

/** What a connected client needs: a writer that says when it is ready for more. */
export interface ClientSink {
  /** False while the previous frame has not drained (the client is slow or stalled). */
  ready(): boolean;
  /** Sends one frame (a JSON text). */
  send(frame: string): void;
  /** Bytes queued in user space for this client (socket buffer): reported, and bounded by design. */
  buffered(): number;
}

export interface ClientStats {
  id: number;
  frames: number;
  /** Snapshot versions the client never saw (replaced by later ones before its next frame). */
  coalesced: number;
  /** Ticks skipped because the client had not drained its previous frame. */
  deferred: number;
  /** Series sent again from their start because the client's cursor fell off the bounded series. */
  resets: number;
  bytes: number;
  buffered: number;
}

interface Client {
  sink: ClientSink;
  stats: ClientStats;
  seen: Map<string, number>;
  /** Snapshot versions when the client attached (what came before is not its loss). */
  born: Map<string, number>;
  cursor: Map<string, number>;
}

export class ViewHub {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly series = new Map<string, Series>();
  private readonly clients = new Set<Client>();
  private timer?: NodeJS.Timeout;
  private nextId = 1;
  /** Called for every frame tick, before frames are built (the server refreshes its own topics). */
  onTick?: () => void;

  constructor(private readonly opts: { frameRate?: number; seriesCap?: number; seriesChunk?: number } = {}) {}

  /** Replaces a snapshot topic; `value` may be a function evaluated lazily when a client is due. */
  set(topic: string, value: Lazy): void {
    const s = this.snapshots.get(topic);
    if (s) {
      s.version++;
      s.value = value;
    } else this.snapshots.set(topic, { version: 1, value });
  }

  /** The current value of a snapshot topic (evaluated), or undefined. */
  get(topic: string): unknown {
    const s = this.snapshots.get(topic);
    if (!s) return undefined;
    return typeof s.value === "function" ? (s.value as () => unknown)() : s.value;
  }

  /** Adds points to a series topic, dropping the oldest beyond the cap. */
  append(topic: string, ...points: unknown[]): void {
    let s = this.series.get(topic);
    if (!s) {
      s = { points: [], base: 0 };
      this.series.set(topic, s);
    }
    s.points.push(...points);
    const cap = this.opts.seriesCap ?? SERIES_CAP;
    if (s.points.length > cap) {
      // Drop the oldest quarter at once (amortised O(1) per point).
      const drop = s.points.length - Math.floor((cap * 3) / 4);
      s.points.splice(0, drop);
      s.base += drop;
    }
  }

  /** Points of a series currently held (for tests and the --db loader). */
  points(topic: string): unknown[] {
    return this.series.get(topic)?.points ?? [];
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Registers a client; returns its stats object (live) and a function that removes it. */
  attach(sink: ClientSink): { stats: ClientStats; detach: () => void } {
    const client: Client = {
      sink,
      stats: { id: this.nextId++, frames: 0, coalesced: 0, deferred: 0, resets: 0, bytes: 0, buffered: 0 },
      seen: new Map(),
      born: new Map([...this.snapshots].map(([t, s]) => [t, s.version])),
      cursor: new Map(),
    };
    this.clients.add(client);
    this.start();
    // The whole state at once, so a new page is complete without waiting for a tick (on the next turn
    // of the event loop: the HTTP response is set up by then).
    setImmediate(() => {
      if (this.clients.has(client) && sink.ready()) this.flush(client);
    });
    return {
      stats: client.stats,
      detach: () => {
        this.clients.delete(client);
        if (this.clients.size === 0) this.stop();
      },
    };
  }

  /** Stats of every client (the server reports them on the page and in tests). */
  clientStats(): ClientStats[] {
    return [...this.clients].map((c) => ({ ...c.stats, buffered: c.sink.buffered() }));
  }

  /** Sends every ready client what changed now (also called by the ticker). */
  tick(): void {
    this.onTick?.();
    for (const c of this.clients) {
      if (!c.sink.ready()) {
        c.stats.deferred++;
        continue;
      }
      this.flush(c);
    }
  }

  /** Stops the ticker (the clients stay attached until their sockets close). */
  close(): void {
    this.stop();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 1000 / (this.opts.frameRate ?? FRAME_RATE));
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private json(s: Snapshot): string {
    if (s.jsonVersion !== s.version) {
      const v = typeof s.value === "function" ? (s.value as () => unknown)() : s.value;
      s.json = JSON.stringify(v ?? null);
      s.jsonVersion = s.version;
    }
    return s.json!;
  }

  private flush(c: Client): void {
    const parts: string[] = [];
    for (const [topic, s] of this.snapshots) {
      const seen = c.seen.get(topic) ?? c.born.get(topic) ?? 0;
      if (c.seen.get(topic) === s.version) continue;
      if (s.version - seen > 1) c.stats.coalesced += s.version - seen - 1;
      c.seen.set(topic, s.version);
      parts.push(`{"topic":${JSON.stringify(topic)},"value":${this.json(s)}}`);
    }
    const chunk = this.opts.seriesChunk ?? SERIES_CHUNK;
    for (const [topic, s] of this.series) {
      const had = c.cursor.get(topic);
      let from = had ?? 0;
      const end = s.base + s.points.length;
      if (from === end) continue;
      let reset = had === undefined;
      if (from < s.base) {
        from = s.base;
        reset = true;
        if (had !== undefined) c.stats.resets++;
      }
      const to = Math.min(end, from + chunk);
      c.cursor.set(topic, to);
      parts.push(
        `{"topic":${JSON.stringify(topic)},"reset":${reset},"points":${JSON.stringify(s.points.slice(from - s.base, to - s.base))}}`,
      );
    }
    if (parts.length === 0) return;
    const frame = `[${parts.join(",")}]`;
    c.stats.frames++;
    c.stats.bytes += frame.length;
    c.sink.send(frame);
  }
}
