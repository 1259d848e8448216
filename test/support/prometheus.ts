/**
 * A strict parser of the Prometheus text exposition format (0.0.4) for tests: every line must be
 * a `# HELP`, a `# TYPE` or a sample of a declared family, or parsing throws, so a malformed
 * `/metrics` fails the test instead of being read leniently.
 */

/** A parsed sample. */
export interface ParsedSample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y

const parseValue = (v: string): number => {
  if (v === "+Inf") return Infinity
  if (v === "-Inf") return -Infinity
  if (v === "NaN") return NaN
  const n = Number(v)
  if (!Number.isFinite(n) || v.trim() !== v || v === "") throw new Error(`bad sample value ${JSON.stringify(v)}`)
  return n
}

/** Parses exposition text; throws on any line that is not valid. */
export const parsePrometheus = (text: string): { types: Map<string, string>; samples: ParsedSample[] } => {
  if (!text.endsWith("\n")) throw new Error("exposition text must end with a newline")
  const types = new Map<string, string>()
  const samples: ParsedSample[] = []
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const name = line.slice(7).split(" ")[0]!
      if (!NAME.test(name)) throw new Error(`bad HELP line: ${line}`)
      continue
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ")
      if (!NAME.test(name!) || !["counter", "gauge", "histogram", "summary", "untyped"].includes(type!)) throw new Error(`bad TYPE line: ${line}`)
      if (types.has(name!)) throw new Error(`family ${name} declared twice`)
      types.set(name!, type!)
      continue
    }
    const m = SAMPLE.exec(line)
    if (!m) throw new Error(`bad sample line: ${JSON.stringify(line)}`)
    const name = m[1]!
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "")
    if (!types.has(family)) throw new Error(`sample ${name} has no TYPE`)
    const labels: Record<string, string> = {}
    if (m[3] !== undefined && m[3] !== "") {
      LABEL.lastIndex = 0
      let consumed = 0
      while (consumed < m[3].length) {
        const l = LABEL.exec(m[3])
        if (!l) throw new Error(`bad labels in ${JSON.stringify(line)}`)
        labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\")
        consumed = LABEL.lastIndex
      }
    }
    samples.push({ name, labels, value: parseValue(m[4]!) })
  }
  return { types, samples }
}

/** The value of the one sample named `name` whose labels include `labels`. */
export const sampleValue = (samples: readonly ParsedSample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
