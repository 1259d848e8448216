/**
 * A machine's state graph drawn as a self-contained SVG, for the dashboard: no Mermaid runtime
 * in the browser (it is megabytes, and the dashboard must work offline with no build step).
 * States are laid out in columns by their longest distance from the initial state, ignoring
 * edges that lead back; each state is a `<g class="state" data-state="...">` the page colours
 * and highlights, and each edge carries its events as a `<title>` tooltip.
 *
 * @example
 * const svg = stateDiagramSvg(stateGraph(workerMachine))
 * svg.includes('data-state="ready"') // true
 */
import type { StateGraph } from "./graph.js"

const BOX_W = 96
const BOX_H = 34
const COL_GAP = 150
const ROW_GAP = 64
const PAD = 24
/** Room above the first row for edges that skip columns. */
const TOP = 64

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/**
 * Column of each state: the longest path from the initial state over forward edges (a DFS
 * drops the edges that close a cycle), so a chain reads left to right.
 *
 * @example
 * layerStates(stateGraph(workerMachine)).get("starting") // 0
 */
export const layerStates = (graph: StateGraph): Map<string, number> => {
  const out = new Map<string, string[]>()
  for (const t of graph.transitions) {
    if (t.from === t.to) continue
    const list = out.get(t.from) ?? []
    if (!list.includes(t.to)) list.push(t.to)
    out.set(t.from, list)
  }
  const forward = new Map<string, string[]>()
  const onStack = new Set<string>()
  const seen = new Set<string>()
  const dfs = (s: string) => {
    seen.add(s)
    onStack.add(s)
    for (const n of out.get(s) ?? []) {
      if (onStack.has(n)) continue
      forward.set(s, [...(forward.get(s) ?? []), n])
      if (!seen.has(n)) dfs(n)
    }
    onStack.delete(s)
  }
  const roots = [...(graph.initial ? [graph.initial] : []), ...graph.states.map((s) => s.id)]
  for (const r of roots) if (!seen.has(r)) dfs(r)
  const layer = new Map<string, number>(graph.states.map((s) => [s.id, 0]))
  // Longest path in a DAG: relax edges until nothing changes (at most |V| rounds).
  for (let round = 0; round < graph.states.length; round++) {
    let changed = false
    for (const [from, tos] of forward) {
      for (const to of tos) {
        const next = (layer.get(from) ?? 0) + 1
        if (next > (layer.get(to) ?? 0)) {
          layer.set(to, next)
          changed = true
        }
      }
    }
    if (!changed) break
  }
  return layer
}

/**
 * Renders the graph as an SVG document string.
 *
 * @example
 * stateDiagramSvg(stateGraph(workerMachine)).startsWith("<svg") // true
 */
export const stateDiagramSvg = (graph: StateGraph): string => {
  const layer = layerStates(graph)
  const rows = new Map<number, number>()
  const pos = new Map<string, { x: number; y: number }>()
  for (const s of graph.states) {
    const col = layer.get(s.id) ?? 0
    const row = rows.get(col) ?? 0
    rows.set(col, row + 1)
    pos.set(s.id, { x: PAD + col * COL_GAP, y: TOP + row * ROW_GAP })
  }
  const width = PAD * 2 + Math.max(0, ...layer.values()) * COL_GAP + BOX_W
  const height = TOP + PAD + (Math.max(1, ...rows.values()) - 1) * ROW_GAP + BOX_H

  // One edge per pair of states, carrying every event that takes that path.
  const edges = new Map<string, { from: string; to: string; labels: string[] }>()
  for (const t of graph.transitions) {
    const key = `${t.from}→${t.to}`
    const e = edges.get(key) ?? { from: t.from, to: t.to, labels: [] }
    if (!e.labels.includes(t.label)) e.labels.push(t.label)
    edges.set(key, e)
  }
  // States from which the machine can only end (final, or leading only to final): edges into
  // them are drawn faint, so the everyday cycle stands out from the many ways to stop.
  const ending = new Set(graph.states.filter((s) => s.final).map((s) => s.id))
  for (let grew = true; grew; ) {
    grew = false
    for (const st of graph.states) {
      const outs = graph.transitions.filter((t) => t.from === st.id && t.to !== st.id)
      if (!ending.has(st.id) && outs.length > 0 && outs.every((t) => ending.has(t.to))) {
        ending.add(st.id)
        grew = true
      }
    }
  }
  const paths: string[] = []
  for (const e of edges.values()) {
    const a = pos.get(e.from)
    const b = pos.get(e.to)
    if (!a || !b) continue
    let d: string
    if (e.from === e.to) {
      d = `M${a.x + BOX_W - 20},${a.y} c 10,-26 34,-26 20,0`
    } else if (b.x - a.x > COL_GAP && a.y === b.y) {
      // A forward edge that skips columns on the same row arcs over the boxes between.
      const x1 = a.x + BOX_W / 2 + 12
      const x2 = b.x + BOX_W / 2 - 12
      const lift = 18 + ((b.x - a.x) / COL_GAP) * 8
      d = `M${x1},${a.y} C${x1},${a.y - lift} ${x2},${b.y - lift} ${x2},${b.y - 2}`
    } else if (b.x > a.x) {
      const x1 = a.x + BOX_W
      const y1 = a.y + BOX_H / 2
      const x2 = b.x
      const y2 = b.y + BOX_H / 2
      const mid = (x1 + x2) / 2
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}`
    } else {
      // Backward or same-column edges arc below the boxes so they do not cross them.
      const x1 = a.x + BOX_W / 2 - 10
      const y1 = a.y + BOX_H
      const x2 = b.x + BOX_W / 2 + 10
      const y2 = b.y + BOX_H
      const dip = Math.max(y1, y2) + 28
      d = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2 + 2}`
    }
    paths.push(
      `<path class="edge${ending.has(e.to) ? " ending" : ""}" data-from="${escapeXml(e.from)}" data-to="${escapeXml(e.to)}" d="${d}" marker-end="url(#arrow)"><title>${escapeXml(`${e.from} → ${e.to}: ${e.labels.join(", ")}`)}</title></path>`,
    )
  }
  const boxes = graph.states.map((s) => {
    const p = pos.get(s.id)!
    const initial = s.id === graph.initial ? `<circle cx="${p.x - 12}" cy="${p.y + BOX_H / 2}" r="5" class="initial"/>` : ""
    return (
      `<g class="state${s.final ? " final" : ""}" data-state="${escapeXml(s.id)}">${initial}` +
      `<rect x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="8"/>` +
      `<text x="${p.x + BOX_W / 2}" y="${p.y + BOX_H / 2 + 4}" text-anchor="middle">${escapeXml(s.key)}</text>` +
      `<text class="count" x="${p.x + BOX_W - 6}" y="${p.y - 4}" text-anchor="end"></text></g>`
    )
  })
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height + 30}" width="${width}" height="${height + 30}" class="state-diagram">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>` +
    `${paths.join("")}${boxes.join("")}</svg>`
  )
}
