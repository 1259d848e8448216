/**
 * The dashboard's single page (workers, supervision tree, call wait/run times and utilization,
 * calls/s, latency and errors per worker, recent errors, state machine, events): HTML, CSS and a
 * small script, no build step and no network (everything is inline). The script reads
 * Server-Sent Events from `/events` and renders with `textContent` only, so session ids, log
 * text and Python's error messages can never inject markup. In `"tree"` mode the page shows a
 * supervision tree and one set of panels per bridge in it.
 *
 * @example
 * res.end(dashboardPage({ title: "snakepit", workerDiagram: svg, mermaid, controls: false, mode: "bridge" }))
 */

/** What the page is built from. */
export interface PageInput {
  readonly title: string
  /** The worker machine as SVG (from `stateDiagramSvg`). */
  readonly workerDiagram: string
  /** Mermaid source of the worker and supervisor machines, shown under the diagram. */
  readonly mermaid: string
  readonly controls: boolean
  /** `"bridge"` (the default): one bridge (`serveDashboard`); `"tree"`: a supervision tree of bridges (`serveTreeDashboard`). */
  readonly mode?: "bridge" | "tree"
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const STYLE = `
:root { --bg:#0f1419; --panel:#171d24; --line:#2a323c; --text:#d8dee6; --dim:#8a96a3;
  --starting:#7aa2f7; --ready:#3fb950; --busy:#e3b341; --idle:#6e7681; --stopping:#bc8cff; --crashed:#f85149; --stopped:#484f58; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; gap:24px; align-items:baseline; padding:12px 20px; border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; } header .stat { color:var(--dim); } header .stat b { color:var(--text); }
#conn { margin-left:auto; } #conn.live::before { content:"● "; color:var(--ready); } #conn.down::before { content:"● "; color:var(--crashed); }
main { display:grid; grid-template-columns: 320px 1fr; gap:16px; padding:16px 20px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0; }
section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 10px; }
.wide { grid-column: 1 / -1; }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--dim); font-weight:500; }
tr.exited td { color:var(--dim); }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#0b0f14; }
.s-starting{background:var(--starting)} .s-ready{background:var(--ready)} .s-busy{background:var(--busy)} .s-idle{background:var(--idle)}
.s-stopping{background:var(--stopping)} .s-crashed{background:var(--crashed)} .s-stopped{background:var(--stopped); color:var(--text)}
.s-running{background:var(--ready)} .s-restarting{background:var(--busy)}
ul.tree, ul.tree ul { list-style:none; margin:0; padding-left:16px; } ul.tree { padding-left:0; }
ul.tree li { margin:4px 0; } .tree .meta { color:var(--dim); font-size:12px; margin-left:6px; }
ol#log { list-style:none; margin:0; padding:0; max-height:320px; overflow:auto; font:12px/1.5 ui-monospace, monospace; }
ol#log li { padding:2px 0; border-bottom:1px dotted var(--line); } ol#log time { color:var(--dim); margin-right:8px; }
ol#log li[data-kind="worker.exited"] { color:#ff9b94; } ol#log li[data-kind="worker.restarted"] { color:#f2cc60; }
.state-diagram { max-width:100%; height:auto; } .state-diagram .edge { fill:none; stroke:#4b5563; stroke-width:1.4; }
.state-diagram .edge.ending { stroke-opacity:.35; } .state-diagram marker path { fill:#4b5563; } .state-diagram .initial { fill:var(--dim); }
.state-diagram .state rect { fill:#1f2630; stroke:#3b4552; stroke-width:1.5; } .state-diagram .state text { fill:var(--text); font-size:13px; }
.state-diagram .state .count { fill:var(--text); font-size:12px; font-weight:700; }
.state-diagram .state.occupied rect { stroke-width:3; }
${["starting", "ready", "busy", "idle", "stopping", "crashed", "stopped"].map((s) => `.state-diagram .state.occupied[data-state="${s}"] rect { stroke:var(--${s}); fill:color-mix(in srgb, var(--${s}) 25%, #1f2630); }`).join("\n")}
details { margin-top:8px; color:var(--dim); } pre { white-space:pre-wrap; font-size:11px; }
table.errors td.msg { white-space:pre-wrap; word-break:break-word; max-width:560px; font:12px/1.4 ui-monospace, monospace; }
table.errors td.type { color:#ff9b94; font-weight:600; } .none { color:var(--dim); }
section.bridge { display:grid; grid-template-columns: 1fr; gap:10px; } section.bridge h3 { margin:0; font-size:15px; }
.tree .bridge-link { color:var(--starting); }
button { background:#2d333b; color:var(--text); border:1px solid var(--line); border-radius:6px; padding:3px 10px; cursor:pointer; }
button:hover { border-color:var(--crashed); }
`

const SCRIPT = `
// The token came once, in the address: the server answered with a cookie that carries it from
// now on, so it leaves the address bar (and no request of the page names it).
if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);
const controls = document.body.dataset.controls === "true";
const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const badge = (state) => el("span", { class: "badge s-" + state }, state);
const mb = (bytes) => bytes == null ? "-" : (bytes / 1048576).toFixed(1) + " MB";
const secs = (ms) => ms < 60000 ? (ms / 1000).toFixed(1) + " s" : Math.floor(ms / 60000) + " min";

async function control(path) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  if (!res.ok) alert("refused: " + res.status + " " + (await res.text()));
}

const num = (v) => v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : Math.round(v).toString();
const ms = num;
const dash = (v, f) => v == null ? "-" : f(v);

function renderWorkers(root, workers, calls) {
  const body = root.querySelector("table.workers tbody");
  body.replaceChildren(...workers.map((w) => {
    const exited = w.exit !== null;
    // Counters are per worker id: a replacement continues its predecessor's row of numbers.
    const c = !exited && calls ? calls.workers[w.id] : undefined;
    const tr = el("tr", { class: exited ? "exited" : "", "data-worker": w.id, "data-pid": String(w.pid ?? ""), "data-state": w.state },
      el("td", {}, w.id), el("td", {}, badge(w.state)), el("td", {}, w.pid ?? "-"),
      el("td", { "data-col": "sessions" }, w.sessions), el("td", {}, w.inFlight), el("td", {}, w.served),
      el("td", { "data-col": "rate" }, dash(c, (x) => x.perSecond.toFixed(1))), el("td", { "data-col": "p50" }, dash(c, (x) => ms(x.p50))),
      el("td", { "data-col": "p99" }, dash(c, (x) => ms(x.p99))), el("td", { "data-col": "errors" }, dash(c, (x) => x.errors)),
      el("td", {}, w.restarts), el("td", {}, mb(w.rssBytes)),
      el("td", {}, exited ? (w.exit.signal || ("code " + w.exit.exitCode)) + " · " + w.exit.reason : secs(w.uptimeMs)));
    if (controls) {
      const cell = el("td");
      if (!exited && w.pid) {
        const b = el("button", { class: "kill", title: "SIGKILL this worker" }, "kill");
        b.onclick = () => control("/api/workers/" + encodeURIComponent(w.id) + "/kill");
        cell.append(b);
      }
      tr.append(cell);
    }
    return tr;
  }));
}

function supervisorNode(s, bridges, path) {
  const li = el("li", { "data-supervisor": s.id },
    el("b", {}, s.id), " ", badge(s.state),
    el("span", { class: "meta" }, s.strategy + " · " + s.restartsInWindow + "/" + s.intensity + " restarts in " + s.periodMs + " ms · " + s.totalRestarts + " total"));
  const ul = el("ul");
  for (const c of s.children) {
    const at = path + "/" + c.id;
    if (c.supervisor) { ul.append(supervisorNode(c.supervisor, bridges, at)); continue; }
    const item = el("li", { "data-child": c.id }, c.id, " ", badge(c.state || c.status),
      el("span", { class: "meta" }, (c.pid ? "pid " + c.pid + " · " : "") + c.restart + " · " + c.restarts + " restarts"));
    // A bridge child: its pool's own supervisor and workers hang under it.
    const bridge = bridges && bridges.get(at);
    if (bridge) {
      item.setAttribute("data-bridge", at);
      if (bridge.supervisor) item.append(el("ul", {}, supervisorNode(bridge.supervisor, null, at)));
    }
    ul.append(item);
  }
  li.append(ul);
  return li;
}

function renderTree(root, sup, bridges) {
  root.querySelector("ul.tree").replaceChildren(...(sup ? [supervisorNode(sup, bridges, sup.id)] : [el("li", {}, "no supervisor")]));
}

function renderDiagram(workers) {
  const counts = {};
  for (const w of workers) if (w.exit === null) counts[w.state] = (counts[w.state] || 0) + 1;
  for (const g of document.querySelectorAll(".state-diagram .state")) {
    const n = counts[g.dataset.state] || 0;
    g.classList.toggle("occupied", n > 0);
    g.querySelector(".count").textContent = n > 0 ? "×" + n : "";
  }
}

function renderStats(root, stats, calls) {
  if (stats) {
    root.querySelector(".utilization").textContent = (stats.utilization * 100).toFixed(1) + " %";
    root.querySelector("table.stats tbody").replaceChildren(...[["wait", stats.waitTime], ["run", stats.runTime]].map(([name, h]) =>
      el("tr", { "data-stat": name }, el("td", {}, name), el("td", {}, h.count), el("td", {}, ms(h.mean)), el("td", {}, ms(h.p50)),
        el("td", {}, ms(h.p90)), el("td", {}, ms(h.p99)), el("td", {}, ms(h.max)))));
  }
  if (!calls) return;
  const t = calls.total;
  const tags = Object.entries(t.errorsByTag).map(([tag, n]) => tag + " " + n).join(" · ");
  root.querySelector("table.throughput tbody").replaceChildren(
    el("tr", { "data-stat": "all" }, el("td", { "data-col": "calls" }, t.calls), el("td", { "data-col": "rate" }, t.perSecond.toFixed(1)),
      el("td", { "data-col": "p50" }, ms(t.p50)), el("td", { "data-col": "p99" }, ms(t.p99)), el("td", { "data-col": "errors" }, t.errors),
      el("td", { "data-col": "tags" }, tags || "-")));
  const rows = calls.recentErrors.map((e) => el("tr", { "data-error-seq": String(e.seq), "data-tag": e.tag },
    el("td", {}, new Date(e.at).toISOString().slice(11, 23)),
    el("td", { class: "type" }, e.pythonType ?? e.tag),
    el("td", { class: "msg" }, e.message),
    el("td", {}, e.workerId ?? "-"), el("td", {}, e.sessionId ?? "-"), el("td", {}, e.callId ?? "-"),
    el("td", {}, e.module + (e.fn ? "." + e.fn : ""))));
  root.querySelector("table.errors tbody").replaceChildren(...(rows.length > 0 ? rows : [el("tr", {}, el("td", { class: "none", colSpan: 7 }, "no failed calls"))]));
}

function renderBridge(root, s) {
  renderWorkers(root, s.workers, s.calls);
  renderStats(root, s.bridge.stats, s.calls);
}

function render(s) {
  $("#uptime").textContent = secs(s.bridge.uptimeMs);
  $("#queued").textContent = s.bridge.queued;
  $("#sessions").textContent = s.bridge.activeSessions;
  $("#failed").textContent = s.bridge.failed ? "FAILED: " + s.bridge.failed : "";
  renderBridge(document, s);
  renderTree(document, s.supervisor, null);
  renderDiagram(s.workers);
}

function renderForest(t) {
  const bridges = new Map(t.bridges.map((b) => [b.path, b.snapshot]));
  $("#bridge-count").textContent = t.bridges.length;
  $("#workers-count").textContent = t.bridges.reduce((n, b) => n + b.snapshot.workers.filter((w) => w.exit === null).length, 0);
  renderTree(document, t.tree, bridges);
  const holder = $("#bridges");
  const seen = new Set();
  for (const b of t.bridges) {
    seen.add(b.path);
    let section = [...holder.children].find((c) => c.dataset.bridge === b.path);
    if (!section) {
      section = $("#bridge-template").content.firstElementChild.cloneNode(true);
      section.dataset.bridge = b.path;
      section.querySelector("h3").textContent = b.path;
      holder.append(section);
    }
    section.querySelector(".bridge-meta").textContent = b.snapshot.bridge.python + " · uptime " + secs(b.snapshot.bridge.uptimeMs) +
      " · queued " + b.snapshot.bridge.queued + " · sessions " + b.snapshot.bridge.activeSessions + (b.snapshot.bridge.failed ? " · FAILED: " + b.snapshot.bridge.failed : "");
    renderBridge(section, b.snapshot);
  }
  for (const c of [...holder.children]) if (!seen.has(c.dataset.bridge)) c.remove();
  renderDiagram(t.bridges.flatMap((b) => b.snapshot.workers));
}

function addLog(e) {
  const t = new Date(e.at).toISOString().slice(11, 23);
  $("#log").prepend(el("li", { "data-kind": e.kind }, el("time", {}, t), e.bridge ? "[" + e.bridge + "] " + e.text : e.text));
  while ($("#log").children.length > 300) $("#log").lastChild.remove();
}

const tree = document.body.dataset.mode === "tree";
if (!tree) $("#metrics-link").href = "/metrics";
if (controls) {
  $("#workers thead tr").append(el("th", {}, ""));
  $("#restart").onclick = () => control("/api/restart");
}

const events = new EventSource("/events");
events.addEventListener("open", () => { $("#conn").className = "live"; $("#conn").textContent = "live"; });
events.addEventListener("error", () => { $("#conn").className = "down"; $("#conn").textContent = "reconnecting"; });
events.addEventListener("hello", (m) => { $("#log").replaceChildren(); for (const e of JSON.parse(m.data).log) addLog(e); });
events.addEventListener("snapshot", (m) => (tree ? renderForest : render)(JSON.parse(m.data)));
events.addEventListener("log", (m) => addLog(JSON.parse(m.data)));
`

/**
 * The page's HTML.
 *
 * @example
 * dashboardPage({ title: "snakepit", workerDiagram: "<svg/>", mermaid: "", controls: false }).startsWith("<!doctype html>") // true
 */
export const dashboardPage = (input: PageInput): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title><style>${STYLE}</style></head>
<body data-controls="${input.controls}" data-mode="${input.mode ?? "bridge"}">
${input.mode === "tree" ? treeBody(input) : bridgeBody(input)}
<script type="module">${SCRIPT}</script>
</body></html>
`

/** The calls panels of one bridge: wait/run, throughput and latency, recent errors. */
const callSections = (ids: boolean) => `<section class="wide calls"${ids ? ' id="calls"' : ""}><h2>Calls (ms) · utilization <b class="utilization"${ids ? ' id="utilization"' : ""}>-</b></h2>
<table class="stats"${ids ? ' id="stats"' : ""}><thead><tr><th></th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr></thead><tbody></tbody></table>
<table class="throughput"${ids ? ' id="throughput"' : ""}><thead><tr><th>calls ended</th><th>calls/s (10 s)</th><th>p50</th><th>p99</th><th>errors</th><th>errors by type</th></tr></thead><tbody></tbody></table></section>
<section class="wide"><h2>Recent errors</h2><table class="errors"${ids ? ' id="errors"' : ""}><thead><tr><th>time</th><th>type</th><th>message</th><th>worker</th><th>session</th><th>call</th><th>function</th></tr></thead><tbody></tbody></table></section>`

const workersTable = (ids: boolean) =>
  `<table class="workers"${ids ? ' id="workers"' : ""}><thead><tr><th>worker</th><th>state</th><th>pid</th><th>sessions</th><th>in flight</th><th>served</th><th>calls/s</th><th>p50 ms</th><th>p99 ms</th><th>errors</th><th>restarts</th><th>RSS</th><th>uptime / exit</th></tr></thead><tbody></tbody></table>`

const diagramAndLog = (input: PageInput) => `<section class="wide"><h2>Worker state machine</h2>${input.workerDiagram}
<details><summary>Mermaid source (worker and supervisor machines)</summary><pre>${escapeHtml(input.mermaid)}</pre></details></section>
<section class="wide"><h2>Events</h2><ol id="log"></ol></section>`

const bridgeBody = (input: PageInput) => `<header><h1>${escapeHtml(input.title)}</h1>
<span class="stat">uptime <b id="uptime">-</b></span><span class="stat">queued <b id="queued">-</b></span>
<span class="stat">sessions <b id="sessions">-</b></span><span class="stat" id="failed"></span>
${input.controls ? '<button id="restart" title="Replace every worker with a fresh process">restart environment</button>' : ""}
<a class="stat" href="/metrics" id="metrics-link">/metrics</a><span id="conn">connecting</span></header>
<main>
<section class="wide"><h2>Supervision tree</h2><ul class="tree" id="tree"></ul></section>
<section class="wide"><h2>Workers</h2>${workersTable(true)}</section>
${callSections(true)}
${diagramAndLog(input)}
</main>`

const treeBody = (input: PageInput) => `<header><h1>${escapeHtml(input.title)}</h1>
<span class="stat">bridges <b id="bridge-count">-</b></span><span class="stat">workers <b id="workers-count">-</b></span>
<span id="conn">connecting</span></header>
<main>
<section class="wide"><h2>Supervision tree</h2><ul class="tree" id="tree"></ul></section>
<div class="wide" id="bridges"></div>
<template id="bridge-template"><section class="bridge wide"><h3></h3><span class="meta bridge-meta"></span>
<section><h2>Workers</h2>${workersTable(false)}</section>
${callSections(false)}</section></template>
${diagramAndLog(input)}
</main>`
