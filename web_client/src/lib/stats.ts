// Formatting of the governance figures (GET /api/network/stats): values, year-on-year changes.

export interface Metric {
  value: number | null
  previous: number | null
  change: number | null
  change_ratio: number | null
}

export type MetricKind = 'count' | 'ratio' | 'days' | 'rate'

export function formatMetric(v: number | null | undefined, kind: MetricKind): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—'
  if (kind === 'ratio') return (v * 100).toFixed(1) + '%'
  if (kind === 'days') return v.toFixed(1)
  if (kind === 'rate') return v.toFixed(2)
  return String(Math.round(v))
}

/** "+3（+25.0%）", "−0.5 pct", "—" when there is nothing to compare. */
export function formatChange(m: Metric, kind: MetricKind): string {
  if (m.change === null || m.change === undefined) return '—'
  const sign = m.change > 0 ? '+' : m.change < 0 ? '−' : '±'
  const abs = Math.abs(m.change)
  if (kind === 'ratio') return `${sign}${(abs * 100).toFixed(1)} pct`
  const body = kind === 'count' ? String(Math.round(abs)) : kind === 'days' ? abs.toFixed(1) : abs.toFixed(2)
  const ratio = m.change_ratio === null || m.change_ratio === undefined ? '' : `（${m.change_ratio >= 0 ? '+' : '−'}${Math.abs(m.change_ratio * 100).toFixed(1)}%）`
  return `${sign}${body}${ratio}`
}
