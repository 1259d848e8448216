// Prints the 25 functions with the most self time in a V8 .cpuprofile (see bench/profile.ts).
import { readFileSync } from "node:fs"

const profile = JSON.parse(readFileSync(process.argv[2], "utf8"))
const counts = new Map()
for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1)
const byName = new Map()
for (const node of profile.nodes) {
  const f = node.callFrame
  const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`
  byName.set(key, (byName.get(key) ?? 0) + (counts.get(node.id) ?? 0))
}
const total = profile.samples.length
for (const [name, n] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${name}`)
