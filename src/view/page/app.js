// The xbar live view page: applies the server's frames (src/view/hub.ts) to its state and redraws what
// changed, once per animation frame. No framework; uPlot (served from the package) for the learning
// curves, canvas for the heat map, the confusion matrix and the x-y plots.
/* global uPlot */

const SERIES_CAP = 20000;
const $ = (id) => document.getElementById(id);

const state = {
  topics: new Map(),
  series: new Map(),
  dirty: new Set(),
  frames: 0,
  client: {},
  ended: false,
  charts: {},
};
window.xbarView = state; // for tests and curious users

let source;
let scheduled = false;

function connect(run) {
  source?.close();
  state.topics.clear();
  state.series.clear();
  state.ended = false;
  $("maps").replaceChildren();
  source = new EventSource(run ? `events?run=${encodeURIComponent(run)}` : "events");
  source.addEventListener("controls", (e) => {
    const c = JSON.parse(e.data);
    $("stop").hidden = !c.stop;
    $("refresh").hidden = !c.refresh;
  });
  source.addEventListener("frame", (e) => {
    state.frames++;
    for (const m of JSON.parse(e.data)) apply(m);
    schedule();
  });
  source.addEventListener("client", (e) => {
    state.client = JSON.parse(e.data);
    state.dirty.add("client");
    schedule();
  });
  source.onerror = () => {
    const st = state.topics.get("status")?.state;
    if (["completed", "stopped", "failed"].includes(st)) {
      source.close();
      state.ended = true;
      state.dirty.add("status");
    } else setBadge("disconnected", "disconnected: retrying");
    schedule();
  };
}

function apply(m) {
  if ("value" in m) state.topics.set(m.topic, m.value);
  else {
    let s = state.series.get(m.topic);
    if (m.reset || !s) {
      s = [];
      state.series.set(m.topic, s);
    }
    s.push(...m.points);
    if (s.length > SERIES_CAP) s.splice(0, s.length - SERIES_CAP);
  }
  state.dirty.add(m.topic.split("/")[0]);
}

function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    const d = new Set(state.dirty);
    state.dirty.clear();
    if (d.has("meta")) $("title").textContent = `xbar view: ${state.topics.get("meta").title}`;
    if (d.has("status")) drawStatus();
    if (d.has("progress")) drawProgress();
    if (d.has("board") || d.has("map")) drawMaps();
    if (d.has("counters") || d.has("link") || d.has("board")) drawCounters();
    if (d.has("refresh")) drawRefresh();
    if (d.has("epochs")) drawEpochs();
    if (d.has("confusion")) drawConfusion();
    if (d.has("traces")) drawTraces();
    if (d.has("iv")) drawIv();
    if (d.has("campaign")) drawCampaign();
    if (d.has("log")) drawLog();
    if (d.has("client") || d.has("status")) drawClient();
  });
}

// ---- formatting

const SI = [
  [1e-12, "p"],
  [1e-9, "n"],
  [1e-6, "µ"],
  [1e-3, "m"],
  [1, ""],
  [1e3, "k"],
  [1e6, "M"],
];
function eng(v, unit) {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  if (v === 0) return `0 ${unit}`;
  const a = Math.abs(v);
  let [f, p] = SI[0];
  for (const [ff, pp] of SI) if (a * 1.000001 >= ff) [f, p] = [ff, pp];
  return `${(v / f).toPrecision(3)} ${p}${unit}`;
}
const pct = (x) => (x === undefined ? "–" : `${(x * 100).toFixed(1)} %`);
const secs = (s) =>
  s === undefined
    ? "?"
    : s < 90
      ? `${s.toFixed(0)} s`
      : s < 5400
        ? `${(s / 60).toFixed(1)} min`
        : `${(s / 3600).toFixed(1)} h`;

function setBadge(st, text) {
  const b = $("status");
  b.dataset.state = st;
  b.textContent = text;
}

// ---- header

function drawStatus() {
  const s = state.topics.get("status");
  if (!s) return;
  const exit = s.exit !== undefined ? ` (exit ${s.exit})` : "";
  setBadge(s.state, `${s.state}${exit}${s.detail ? `: ${s.detail}` : ""}`);
  $("stop").disabled = !["running", "starting"].includes(s.state);
}

function drawProgress() {
  const p = state.topics.get("progress");
  const f = p.total > 0 ? p.done / p.total : 0;
  $("progress-bar").style.width = `${(f * 100).toFixed(1)}%`;
  $("progress-text").textContent =
    `${p.label}: ${p.done}/${p.total}, ${secs(p.elapsed)} elapsed${p.left !== undefined ? `, ~${secs(p.left)} left` : ""}`;
}

function drawClient() {
  const c = state.client;
  const meta = state.topics.get("meta");
  const ended = state.ended ? " The run has ended; the view shows its last state." : "";
  $("link-note").textContent =
    `Pushed at most ${meta?.frameRate ?? 10} frames/s; this browser got ${c.frames ?? 0} frames. ` +
    `Coalesced (older values replaced before sending): ${c.coalesced ?? 0}; deferred (browser not keeping up): ${c.deferred ?? 0}; ` +
    `series resent: ${c.resets ?? 0}; viewers: ${c.clients ?? 1}.${ended}`;
}

// ---- heat map

const STOPS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];
function color(t) {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  return STOPS[i].map((a, k) => Math.round(a + (STOPS[i + 1][k] - a) * f));
}

function decode(b64) {
  const bin = atob(b64);
  const u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  return new Float32Array(u8.buffer);
}

const maps = new Map(); // board index -> { el, canvas, img, data, frame }

function mapElement(i, rows, cols) {
  let m = maps.get(i);
  if (m && m.rows === rows && m.cols === cols) return m;
  const el = document.createElement("div");
  el.className = "map";
  el.id = `map-${i}`;
  // Cells as square as the array allows, the map about 440 px on its longer side.
  const sx = Math.max(1, Math.min(8, Math.floor(440 / cols)));
  const sy = Math.max(1, Math.min(8, Math.floor(440 / rows)));
  const canvas = document.createElement("canvas");
  canvas.width = cols * sx;
  canvas.height = rows * sy;
  const caption = document.createElement("p");
  caption.className = "note";
  el.append(canvas, caption);
  $("maps").append(el);
  m = { el, canvas, caption, rows, cols, sx, sy, frames: 0 };
  canvas.addEventListener("mousemove", (ev) => hover(m, ev));
  canvas.addEventListener("mouseleave", () => {
    $("tooltip").hidden = true;
  });
  maps.set(i, m);
  return m;
}

function hover(m, ev) {
  if (!m.data) return;
  const rect = m.canvas.getBoundingClientRect();
  const c = Math.floor(((ev.clientX - rect.left) / rect.width) * m.cols);
  const r = Math.floor(((ev.clientY - rect.top) / rect.height) * m.rows);
  if (r < 0 || c < 0 || r >= m.rows || c >= m.cols) return;
  const g = m.data[r * m.cols + c];
  const t = $("tooltip");
  t.hidden = false;
  t.textContent = `row ${r}, col ${c}: ${Number.isNaN(g) ? "not read yet" : eng(g, "S")}`;
  t.style.left = `${ev.clientX + 12}px`;
  t.style.top = `${ev.clientY + 12}px`;
}

function drawMaps() {
  const log = $("log-scale").checked;
  for (const [topic, f] of state.topics) {
    if (!topic.startsWith("map/")) continue;
    const i = f.board;
    const board = state.topics.get(`board/${i}`);
    const m = mapElement(i, f.rows, f.cols);
    m.frames++;
    m.el.dataset.frames = String(m.frames);
    m.el.dataset.at = String(f.at);
    m.data = decode(f.data);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    let known = 0;
    const tf = (g) => (log ? Math.log10(Math.max(g, 1e-15)) : g);
    for (const g of m.data) {
      if (Number.isNaN(g)) continue;
      known++;
      const v = tf(g);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    m.el.dataset.known = String(known);
    const small = document.createElement("canvas");
    small.width = f.cols;
    small.height = f.rows;
    const sctx = small.getContext("2d");
    const img = sctx.createImageData(f.cols, f.rows);
    for (let k = 0; k < m.data.length; k++) {
      const g = m.data[k];
      const [r, gg, b] = Number.isNaN(g) ? [225, 225, 230] : color(hi > lo ? (tf(g) - lo) / (hi - lo) : 0.5);
      img.data.set([r, gg, b, 255], k * 4);
    }
    sctx.putImageData(img, 0, 0);
    const ctx = m.canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, m.canvas.width, m.canvas.height);
    const t = f.touched;
    if (t) {
      ctx.strokeStyle = "#ff2bd6";
      ctx.lineWidth = 1;
      const s = m.scale;
      if (t.cells.length <= 4000)
        for (const k of t.cells)
          ctx.strokeRect((k % f.cols) * s + 0.5, Math.floor(k / f.cols) * s + 0.5, s - 1, s - 1);
      if (t.block) {
        ctx.setLineDash([4, 3]);
        ctx.strokeRect(t.block.c0 * s, t.block.r0 * s, t.block.cols * s, t.block.rows * s);
        ctx.setLineDash([]);
      }
    }
    const range =
      known > 0
        ? `${log ? eng(10 ** lo, "S") : eng(lo, "S")} (dark) to ${log ? eng(10 ** hi, "S") : eng(hi, "S")} (bright), ${log ? "log" : "linear"}`
        : "no device read yet";
    m.caption.textContent =
      `${board ? `${board.url}: ${board.rows} x ${board.cols} ${board.technology}` : `board ${i}`}. ${range}; ` +
      `${known}/${f.rows * f.cols} devices read. From ${f.source}${f.at ? ` at ${new Date(f.at).toLocaleTimeString()}` : ""}. ` +
      (t
        ? `Last operation ${t.op}: ${t.cells.length} device(s) marked in magenta.`
        : "No programming operation seen yet.");
  }
}

// ---- counters and link

function drawCounters() {
  const parts = [];
  for (const [topic, b] of state.topics) {
    if (!topic.startsWith("board/")) continue;
    const i = b.index;
    const c = state.topics.get(`counters/${i}`);
    const l = state.topics.get(`link/${i}`);
    const row = (k, label, v, text) =>
      `<tr><th>${label}</th><td data-k="${k}" data-v="${v ?? ""}">${text}</td></tr>`;
    let html = `<table id="counters-${i}"><caption class="note">${b.vendor} ${b.model} ${b.serial} (${b.url})</caption>`;
    if (c) {
      html += row("pulses", "pulses", c.pulses, c.pulses.toLocaleString());
      html += row("reads", "reads", c.reads, c.reads.toLocaleString());
      html += row("vmms", "VMM vectors", c.vmms, c.vmms.toLocaleString());
      html += row("energy", "energy", c.energy, eng(c.energy, "J"));
      html += row("commands", "commands", c.commands, c.commands.toLocaleString());
      html += row("errors", "board errors", c.errors, c.errors);
      html += row("clock", "board clock", c.clock, `${c.clock.toFixed(3)} s`);
      html += `<tr><th colspan="2" class="note">as the board last reported them (${new Date(c.at).toLocaleTimeString()})</th></tr>`;
    } else html += `<tr><th>counters</th><td>not reported yet</td></tr>`;
    if (l) {
      html += row("perSecond", "requests/s", l.perSecond, l.perSecond.toFixed(1));
      html += row("requests", "requests", l.requests, l.requests.toLocaleString());
      html += row("retransmissions", "retransmissions", l.retransmissions ?? "", l.retransmissions ?? "–");
      html += row("discarded", "lines discarded", l.discarded ?? "", l.discarded ?? "–");
      html += row("reboots", "board reboots", l.reboots ?? "", l.reboots ?? "–");
      html += row("opErrors", "failed operations", l.errors, l.errors);
    }
    parts.push(`${html}</table>`);
  }
  $("counters").innerHTML = parts.join("");
}

function drawRefresh() {
  const r = state.topics.get("refresh");
  $("refresh-note").textContent =
    r.interval > 0
      ? `Map refresh (extra whole-array reads by the view): at most every ${r.interval} s, at epoch/step ends; ${r.count} so far (${r.reads.toLocaleString()} device reads), last: ${r.lastReason}.`
      : "Map refresh off: the map shows only what the run itself read.";
}

// ---- learning curve

function chart(id, title, series, scales) {
  if (state.charts[id]) return state.charts[id];
  const el = $(id);
  const opts = {
    title,
    width: Math.max(300, el.clientWidth || 440),
    height: 170,
    scales: { x: { time: false }, ...(scales ?? {}) },
    axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, ...series.axes],
    series: [{ label: "epoch" }, ...series.lines],
  };
  state.charts[id] = new uPlot(opts, [[]], el);
  return state.charts[id];
}

function drawEpochs() {
  const e = state.series.get("epochs") ?? [];
  $("epochs-note").dataset.epochs = String(e.length);
  const last = e[e.length - 1];
  $("epochs-note").textContent = last
    ? `${e.length} epoch(s); last: test ${pct(last.testAccuracy)}, train ${pct(last.trainAccuracy)}, ${last.pulses?.toLocaleString() ?? "–"} pulses, ${eng(last.energy, "J")}`
    : "no epoch yet";
  if (typeof uPlot === "undefined") return;
  const x = e.map((_, k) => k + 1);
  const val = (k) => e.map((p) => p[k] ?? null);
  chart("acc-chart", "accuracy", {
    axes: [{ label: "accuracy" }],
    lines: [
      { label: "train", stroke: "#4f8cff", width: 2 },
      { label: "test", stroke: "#e8590c", width: 2 },
    ],
  }).setData([x, val("trainAccuracy"), val("testAccuracy")]);
  chart("loss-chart", "loss", {
    axes: [{ label: "loss" }],
    lines: [
      { label: "train", stroke: "#4f8cff", width: 2 },
      { label: "test", stroke: "#e8590c", width: 2 },
    ],
  }).setData([x, val("trainLoss"), val("testLoss")]);
  chart(
    "cost-chart",
    "pulses and energy per epoch",
    {
      axes: [
        { label: "pulses", scale: "p" },
        { label: "energy (J)", scale: "j", side: 1 },
      ],
      lines: [
        { label: "pulses", stroke: "#2a8a3e", width: 2, scale: "p" },
        { label: "energy J", stroke: "#8a2a7a", width: 2, scale: "j" },
      ],
    },
    { p: { auto: true }, j: { auto: true } },
  ).setData([x, val("pulses"), val("energy")]);
}

function drawConfusion() {
  const c = state.topics.get("confusion");
  const m = c.matrix;
  const n = m.length;
  const canvas = $("confusion");
  const ctx = canvas.getContext("2d");
  const cell = Math.floor((canvas.width - 20) / n);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "10px system-ui";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let r = 0; r < n; r++) {
    const sum = m[r].reduce((a, b) => a + b, 0) || 1;
    for (let k = 0; k < n; k++) {
      const f = m[r][k] / sum;
      const [R, G, B] = color(f);
      ctx.fillStyle = `rgb(${R},${G},${B})`;
      ctx.fillRect(20 + k * cell, 20 + r * cell, cell - 1, cell - 1);
      ctx.fillStyle = f > 0.5 ? "#000" : "#fff";
      ctx.fillText(String(m[r][k]), 20 + k * cell + cell / 2, 20 + r * cell + cell / 2);
    }
    ctx.fillStyle = "#1d2433";
    ctx.fillText(String(r), 10, 20 + r * cell + cell / 2);
    ctx.fillText(String(r), 20 + r * cell + cell / 2, 10);
  }
  $("confusion-label").textContent =
    `${c.label}: accuracy ${pct(c.accuracy)} (rows: true digit, columns: predicted)`;
  canvas.dataset.label = c.label;
}

// ---- x-y plots (traces, I-V: x need not be monotonic)

function drawXY(canvas, lines, xlabel, ylabel) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  const L = 64;
  const B = 30;
  ctx.clearRect(0, 0, W, H);
  const all = lines.flatMap((l) => l.points);
  if (all.length === 0) {
    ctx.fillStyle = "#5b6475";
    ctx.fillText("no data yet", L, H / 2);
    return;
  }
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of all) {
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + Math.abs(y0 || 1) * 0.1;
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - 10);
  const py = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - B - 10);
  ctx.strokeStyle = "#aab";
  ctx.strokeRect(L, 10, W - L - 10, H - B - 10);
  ctx.fillStyle = "#1d2433";
  ctx.font = "10px system-ui";
  ctx.textAlign = "right";
  for (let k = 0; k <= 4; k++) {
    const y = y0 + ((y1 - y0) * k) / 4;
    ctx.fillText(eng(y, ylabel.unit), L - 4, py(y) + 3);
  }
  ctx.textAlign = "center";
  for (let k = 0; k <= 4; k++) {
    const x = x0 + ((x1 - x0) * k) / 4;
    ctx.fillText(xlabel.unit ? eng(x, xlabel.unit) : x.toFixed(0), px(x), H - B + 12);
  }
  ctx.fillText(xlabel.name, L + (W - L) / 2, H - 4);
  for (const l of lines) {
    ctx.strokeStyle = l.color;
    ctx.beginPath();
    l.points.forEach(([x, y], k) => {
      if (k) ctx.lineTo(px(x), py(y));
      else ctx.moveTo(px(x), py(y));
    });
    ctx.stroke();
  }
}

function drawTraces() {
  const t = state.series.get("traces") ?? [];
  const devices = [...new Set(t.map((p) => p.device))];
  const sel = $("trace-device");
  if (sel.options.length !== devices.length) {
    const cur = sel.value;
    sel.replaceChildren(...devices.map((d) => new Option(d, d)));
    sel.value = devices.includes(cur) ? cur : devices[devices.length - 1];
  }
  const pts = t.filter((p) => p.device === sel.value);
  const byLabel = new Map();
  for (const p of pts) {
    const k = `${p.kind} ${p.label ?? ""}`;
    if (!byLabel.has(k)) byLabel.set(k, []);
    byLabel.get(k).push([p.x, p.y]);
  }
  const colors = ["#2a8a3e", "#b3261e", "#4f8cff", "#8a2a7a"];
  drawXY(
    $("traces"),
    [...byLabel.values()].map((points, k) => ({ points, color: colors[k % colors.length] })),
    { name: "pulse", unit: "" },
    { unit: "S" },
  );
  $("traces").dataset.points = String(pts.length);
}

function drawIv() {
  const iv = state.series.get("iv") ?? [];
  const by = new Map();
  for (const p of iv) {
    if (!by.has(p.label)) by.set(p.label, []);
    by.get(p.label).push([p.v, p.i]);
  }
  drawXY(
    $("iv"),
    [...by.values()].map((points, k) => ({ points, color: k % 2 ? "#b3261e" : "#4f8cff" })),
    { name: "voltage", unit: "V" },
    { unit: "A" },
  );
}

// ---- campaign and log

function drawCampaign() {
  const c = state.topics.get("campaign");
  $("plan").textContent = (c.plan ?? []).join("\n") || "no plan";
  $("steps").innerHTML = (c.steps ?? [])
    .map(
      (s) =>
        `<li data-status="${s.status}">run ${s.run} step ${s.idx + 1} ${s.kind}: ${s.status}${s.seconds !== undefined ? ` in ${secs(s.seconds)}` : ""}</li>`,
    )
    .join("");
}

function drawLog() {
  const l = state.series.get("log") ?? [];
  $("log").replaceChildren(
    ...l.slice(-50).map((e) => {
      const li = document.createElement("li");
      li.textContent = `${new Date(e.t).toLocaleTimeString()} ${e.text}`;
      return li;
    }),
  );
}

// ---- controls

$("stop").addEventListener("click", async () => {
  $("stop").disabled = true;
  await fetch("stop", { method: "POST", headers: { "X-Xbar": "1" } });
});
$("refresh").addEventListener("click", () =>
  fetch("refresh", { method: "POST", headers: { "X-Xbar": "1" } }),
);
$("log-scale").addEventListener("change", () => {
  state.dirty.add("map");
  schedule();
});
$("trace-device").addEventListener("change", () => {
  state.dirty.add("traces");
  schedule();
});

drawXY($("traces"), [], { name: "pulse" }, { unit: "S" });
drawXY($("iv"), [], { name: "voltage", unit: "V" }, { unit: "A" });

// --db: a run selector; live: the run's own stream.
const runs = await fetch("api/runs").then((r) => (r.ok ? r.json() : undefined));
if (runs) {
  const sel = $("runs");
  sel.hidden = false;
  sel.replaceChildren(
    ...runs.map((r) => new Option(`run ${r.id} ${r.campaign} ${r.status} ${r.started ?? ""}`, String(r.id))),
  );
  sel.addEventListener("change", () => connect(sel.value));
  if (runs.length) connect(String(runs[runs.length - 1].id));
} else connect();
