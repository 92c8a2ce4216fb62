// Number and time formatting shared by the screens.

export const STATISTICS = ['Output', 'CostParameter', 'CostAdd', 'CostMultiply', 'CostMultiplyAdd', 'CostDivision',
  'CostExp', 'CostIf']

export const product = (shape) => (shape ?? []).reduce((a, b) => a * b, 1)

/** The value of a statistic for one analysed layer: Output is the element count of its output shape. */
export function statisticValue(result, statistic) {
  if (!result) return null
  if (statistic === 'Output') return result.output_shape ? product(result.output_shape) : null
  return result.statistics?.[statistic] ?? null
}

export function compact(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '-'
  const a = Math.abs(n)
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`
  return Number.isInteger(n) ? String(n) : n.toPrecision(4)
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const pad = (v) => String(v).padStart(2, '0')
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`
}
