/** A small parser for the Prometheus text exposition format, so tests assert on samples rather than substrings. */

/** One sample line: name, labels and value. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy

/** Parses every sample line; throws on a line it cannot read, so a malformed exposition fails the test. */
export function parseProm(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (!m) throw new Error(`unparseable exposition line: ${line}`)
    samples.push({ name: m[1]!, labels: parseLabels(m[2] ?? ''), value: Number(m[3]) })
  }
  return samples
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  for (let at = 0; at < text.length; at = LABEL.lastIndex) {
    LABEL.lastIndex = at
    const m = LABEL.exec(text)
    if (!m) throw new Error(`unparseable labels: ${text}`)
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
  }
  return labels
}

/** The value of the one sample with exactly these labels, or undefined. */
export function sample(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort())
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value
}

/** Every sample of `name`. */
export function series(samples: readonly Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name)
}
