// Small dependency-free SVG charts: line chart (learning curves), scatter with a Pareto front, stacked histogram.

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
export const seriesColor = (i) => PALETTE[i % PALETTE.length]

const W = 560
const H = 300
const M = { left: 56, right: 16, top: 16, bottom: 36 }

function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo]
  const step = (hi - lo) / (count - 1)
  return Array.from({ length: count }, (_, i) => lo + i * step)
}

const label = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : +v.toPrecision(3))

function Axes({ xs, ys, sx, sy, xLabel, yLabel }) {
  return (
    <g className="axes">
      <line x1={M.left} y1={H - M.bottom} x2={W - M.right} y2={H - M.bottom} />
      <line x1={M.left} y1={M.top} x2={M.left} y2={H - M.bottom} />
      {xs.map((v) => <text key={`x${v}`} x={sx(v)} y={H - M.bottom + 14} textAnchor="middle">{label(v)}</text>)}
      {ys.map((v) => <text key={`y${v}`} x={M.left - 4} y={sy(v) + 4} textAnchor="end">{label(v)}</text>)}
      <text x={(W + M.left) / 2} y={H - 4} textAnchor="middle">{xLabel}</text>
      <text x={12} y={(H - M.bottom + M.top) / 2} textAnchor="middle" transform={`rotate(-90 12 ${(H - M.bottom + M.top) / 2})`}>{yLabel}</text>
    </g>
  )
}

function scale(lo, hi, a, b) {
  return (v) => (hi > lo ? a + ((v - lo) / (hi - lo)) * (b - a) : (a + b) / 2)
}

/** series: [{name, points: [[x, y], ...]}]. With `log`, y is drawn on a log10 scale (non-positive values skipped). */
export function LineChart({ series, log = false, xLabel = 'epoch', yLabel = '', testid = 'line-chart' }) {
  const ty = (v) => (log ? Math.log10(v) : v)
  const usable = series.map((s) => ({ ...s, points: s.points.filter(([, y]) => Number.isFinite(y) && (!log || y > 0)) }))
  const all = usable.flatMap((s) => s.points)
  const xLo = Math.min(0, ...all.map((p) => p[0]))
  const xHi = Math.max(1, ...all.map((p) => p[0]))
  const yLo = all.length ? Math.min(...all.map((p) => ty(p[1]))) : 0
  const yHi = all.length ? Math.max(...all.map((p) => ty(p[1]))) : 1
  const sx = scale(xLo, xHi, M.left, W - M.right)
  const sy = scale(yLo, yHi, H - M.bottom, M.top)
  const yTicks = ticks(yLo, yHi)
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} data-testid={testid}>
      <Axes xs={ticks(xLo, xHi)} ys={yTicks} sx={sx} sy={(v) => sy(v)} xLabel={xLabel}
        yLabel={log ? `${yLabel} (log10)` : yLabel} />
      {usable.map((s, i) => (
        <g key={s.name}>
          <polyline fill="none" stroke={s.color ?? seriesColor(i)} strokeWidth="2" data-testid={`curve-${s.name}`}
            data-points={s.points.length}
            points={s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(ty(y)).toFixed(1)}`).join(' ')} />
          {s.points.map(([x, y]) => <circle key={x} cx={sx(x)} cy={sy(ty(y))} r="2.5" fill={s.color ?? seriesColor(i)} />)}
        </g>
      ))}
      <g className="legend">
        {usable.map((s, i) => (
          <text key={s.name} x={W - M.right - 4} y={M.top + 12 + i * 14} textAnchor="end" fill={s.color ?? seriesColor(i)}>{s.name}</text>
        ))}
      </g>
    </svg>
  )
}

/** points: [{label, x, y, pareto}]; the Pareto-optimal ones are joined by a step line. */
export function TradeoffChart({ points, xLabel, yLabel }) {
  const xLo = Math.min(...points.map((p) => p.x), 0)
  const xHi = Math.max(...points.map((p) => p.x), 1) * 1.15  // room for the labels right of the points
  const sx = scale(xLo, xHi, M.left, W - M.right)
  const yHi = Math.max(...points.map((p) => p.y), 0.01) * 1.1
  const sy = scale(0, yHi, H - M.bottom, M.top)
  const front = points.filter((p) => p.pareto).sort((a, b) => a.x - b.x)
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} data-testid="tradeoff-chart">
      <Axes xs={ticks(xLo, xHi)} ys={ticks(0, yHi)} sx={sx} sy={sy} xLabel={xLabel} yLabel={yLabel} />
      <polyline fill="none" stroke="#d62728" strokeDasharray="4 3"
        points={front.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' ')} />
      {points.map((p) => (
        <g key={p.label}>
          <circle cx={sx(p.x)} cy={sy(p.y)} r={p.pareto ? 6 : 4} fill={p.pareto ? '#d62728' : '#1f77b4'}
            data-testid={p.pareto ? 'pareto-point' : 'tradeoff-point'}><title>{`${p.label}: ${p.y}`}</title></circle>
          <text x={sx(p.x) + 8} y={sy(p.y) - 6} className="point-label">{p.label}</text>
        </g>
      ))}
    </svg>
  )
}

/** bins: edges (n + 1); stacks: [{name, counts (n), color}]. */
export function Histogram({ bins, stacks, xLabel = '', testid = 'histogram' }) {
  const n = bins.length - 1
  const totals = Array.from({ length: n }, (_, i) => stacks.reduce((s, st) => s + st.counts[i], 0))
  const yHi = Math.max(1, ...totals)
  const sx = scale(bins[0], bins[n], M.left, W - M.right)
  const sy = scale(0, yHi, H - M.bottom, M.top)
  const bars = []
  for (let i = 0; i < n; i++) {
    let base = 0
    for (const st of stacks) {
      const c = st.counts[i]
      bars.push(<rect key={`${st.name}${i}`} x={sx(bins[i]) + 1} width={sx(bins[i + 1]) - sx(bins[i]) - 2}
        y={sy(base + c)} height={sy(base) - sy(base + c)} fill={st.color}><title>{`${st.name}: ${c}`}</title></rect>)
      base += c
    }
  }
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} data-testid={testid}>
      <Axes xs={bins.filter((_, i) => i % 2 === 0)} ys={ticks(0, yHi)} sx={sx} sy={sy} xLabel={xLabel} yLabel="samples" />
      {bars}
      <g className="legend">
        {stacks.map((s, i) => <text key={s.name} x={W - M.right - 4} y={M.top + 12 + i * 14} textAnchor="end" fill={s.color}>{s.name}</text>)}
      </g>
    </svg>
  )
}
