// Hand-written SVG plot: recall@k (x, linear) vs single-thread QPS (y, log10), one line per
// series, markers at sweep points (optionally labelled with their ef), axis labels, legend,
// title. No dependencies; shared by `quiver-search bench --svg` and the repository's peer
// benchmark (bench/lib/svg.mjs).

/** Colours given to series that bring none, in order. */
export const PALETTE = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b']

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const r2 = (v) => Math.round(v * 100) / 100

function marker(kind, x, y, color) {
  const s = 4.5
  if (kind === 'square')
    return `<rect x="${r2(x - s)}" y="${r2(y - s)}" width="${2 * s}" height="${2 * s}" fill="${color}"/>`
  if (kind === 'triangle')
    return `<path d="M${r2(x)},${r2(y - s - 1)} L${r2(x + s + 1)},${r2(y + s)} L${r2(x - s - 1)},${r2(y + s)} Z" fill="${color}"/>`
  return `<circle cx="${r2(x)}" cy="${r2(y)}" r="${s}" fill="${color}"/>`
}

function niceStep(range) {
  const candidates = [0.002, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2]
  for (const c of candidates) if (range / c <= 10) return c
  return 0.25
}

function fmtQps(v) {
  if (v >= 1e6) return `${v / 1e6}M`
  if (v >= 1e3) return `${v / 1e3}k`
  return String(v)
}

/**
 * The recall/QPS plot as an SVG document (a string ending in a newline).
 *
 * @param {{ title: string, subtitle?: string, k?: number,
 *           series: { label: string, points: { ef: number, recall: number, qps: number }[],
 *                     color?: string, marker?: 'circle'|'square'|'triangle', labelEf?: boolean }[],
 *           targets?: number[] }} opts
 *   `color` defaults to PALETTE[i], `marker` to 'circle', `labelEf` (write "ef N" by each point)
 *   to false; `targets` are recall values drawn as dashed vertical lines.
 */
export function recallQpsSvg({ title, subtitle = '', k = 10, series, targets = [0.9, 0.95, 0.99] }) {
  const W = 900,
    H = 600
  const m = { l: 80, r: 30, t: subtitle ? 78 : 60, b: 65 }
  const pw = W - m.l - m.r,
    ph = H - m.t - m.b
  const colorOf = (s, i) => s.color || PALETTE[i % PALETTE.length]
  const markerOf = (s) => s.marker || 'circle'
  const all = series.flatMap((s) => s.points).filter((p) => p.qps > 0 && p.recall != null)
  const rmin = all.length ? Math.min(...all.map((p) => p.recall)) : 0.5
  const step0 = niceStep(1 - rmin)
  const xMin = Math.max(0, Math.floor((rmin - step0 * 0.3) / step0) * step0)
  const xMax = 1 + (1 - xMin) * 0.02 // a little room right of recall = 1
  const qmin = all.length ? Math.min(...all.map((p) => p.qps)) : 100
  const qmax = all.length ? Math.max(...all.map((p) => p.qps)) : 10000
  const yLo = Math.floor(Math.log10(qmin * 0.8) * 4) / 4
  const yHi = Math.ceil(Math.log10(qmax * 1.25) * 4) / 4
  const X = (r) => m.l + ((r - xMin) / (xMax - xMin)) * pw
  const Y = (q) => m.t + ph - ((Math.log10(q) - yLo) / (yHi - yLo)) * ph

  const out = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
  )
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${W / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">${esc(title)}</text>`)
  if (subtitle)
    out.push(`<text x="${W / 2}" y="50" text-anchor="middle" font-size="12" fill="#444">${esc(subtitle)}</text>`)

  // grid + ticks
  out.push('<g stroke="#e3e3e3" stroke-width="1">')
  const step = niceStep(xMax - xMin)
  const xt = []
  for (let v = Math.ceil(xMin / step - 1e-9) * step; v <= 1 + 1e-9; v += step) xt.push(Math.round(v * 1000) / 1000)
  for (const v of xt) out.push(`<line x1="${r2(X(v))}" y1="${m.t}" x2="${r2(X(v))}" y2="${m.t + ph}"/>`)
  const yt = []
  for (let d = Math.floor(yLo); d <= Math.ceil(yHi); d++) {
    for (const mul of [1, 2, 5]) {
      const v = mul * 10 ** d
      const lv = Math.log10(v)
      if (lv >= yLo - 1e-9 && lv <= yHi + 1e-9) yt.push(v)
    }
  }
  for (const v of yt) out.push(`<line x1="${m.l}" y1="${r2(Y(v))}" x2="${m.l + pw}" y2="${r2(Y(v))}"/>`)
  out.push('</g>')
  // recall targets
  for (const t of targets) {
    if (t < xMin || t > xMax) continue
    out.push(
      `<line x1="${r2(X(t))}" y1="${m.t}" x2="${r2(X(t))}" y2="${m.t + ph}" stroke="#999" stroke-dasharray="4,4"/>`,
    )
    out.push(`<text x="${r2(X(t)) + 3}" y="${m.t + 12}" font-size="11" fill="#777">${t}</text>`)
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`)
  for (const v of xt) out.push(`<text x="${r2(X(v))}" y="${m.t + ph + 18}" text-anchor="middle">${v}</text>`)
  for (const v of yt) out.push(`<text x="${m.l - 8}" y="${r2(Y(v)) + 4}" text-anchor="end">${fmtQps(v)}</text>`)
  out.push(`<text x="${m.l + pw / 2}" y="${H - 18}" text-anchor="middle" font-size="14">recall@${k}</text>`)
  out.push(
    `<text transform="translate(22,${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="14">queries per second, 1 thread (log scale)</text>`,
  )

  // series
  series.forEach((s, i) => {
    const color = colorOf(s, i)
    const pts = s.points.filter((p) => p.qps > 0).sort((a, b) => a.ef - b.ef)
    if (!pts.length) return
    out.push(`<g>`)
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${r2(X(p.recall))},${r2(Y(p.qps))}`).join(' ')}"/>`,
    )
    for (const p of pts) {
      out.push(marker(markerOf(s), X(p.recall), Y(p.qps), color))
      if (s.labelEf) {
        const nearRight = X(p.recall) > m.l + pw - 50
        out.push(
          `<text x="${r2(X(p.recall) + (nearRight ? -7 : 6))}" y="${r2(Y(p.qps)) - 7}" font-size="10" fill="${color}"${nearRight ? ' text-anchor="end"' : ''}>ef ${p.ef}</text>`,
        )
      }
    }
    out.push(`</g>`)
  })

  // legend (bottom-left inside plot: curves go down to the right)
  const lx = m.l + 14,
    ly = m.t + ph - 14 - series.length * 22
  out.push(
    `<rect x="${lx - 8}" y="${ly - 16}" width="250" height="${series.length * 22 + 10}" fill="#fff" fill-opacity="0.9" stroke="#bbb"/>`,
  )
  series.forEach((s, i) => {
    const y = ly + i * 22
    const color = colorOf(s, i)
    out.push(`<line x1="${lx}" y1="${y - 4}" x2="${lx + 28}" y2="${y - 4}" stroke="${color}" stroke-width="2"/>`)
    out.push(marker(markerOf(s), lx + 14, y - 4, color))
    out.push(`<text x="${lx + 38}" y="${y}">${esc(s.label)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
