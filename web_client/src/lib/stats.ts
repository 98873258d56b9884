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

// ─── Year-on-year colouring by meaning ────────────────────────────────────────────────────
// A rise is good news only for some figures: more settled intakes or a higher success rate are
// good; more failed (调解不成) or withdrawn (撤回) intakes, more days to close, more lawsuits
// and a larger backlog are bad. For the rest (disputes received, partly settled) a rise says
// nothing by itself.

export type Polarity = 'up_good' | 'up_bad' | 'neutral'
export type Trend = 'good' | 'bad' | 'neutral' | 'none'

export const POLARITY: Record<string, Polarity> = {
  closed: 'up_good',
  settled: 'up_good',
  success_rate: 'up_good',
  failed: 'up_bad',
  withdrawn: 'up_bad',
  median_days: 'up_bad',
  p90_days: 'up_bad',
  lawsuits: 'up_bad',
  lawsuits_per_10k: 'up_bad',
  unassigned: 'up_bad',
  waiting_longer: 'up_bad',
  backlog: 'up_bad',
  disputes: 'neutral',
  disputes_per_10k: 'neutral',
  partially_settled: 'neutral',
}

/** good / bad by the figure's meaning; neutral for a rise that means neither; none: no change. */
export function trendOf(key: string, m: Pick<Metric, 'change'> | null | undefined): Trend {
  const c = m?.change
  if (c === null || c === undefined || Number.isNaN(c) || c === 0) return 'none'
  const p = POLARITY[key] ?? 'neutral'
  if (p === 'neutral') return 'neutral'
  return (c > 0) === (p === 'up_good') ? 'good' : 'bad'
}

// ─── Mediators' workload ──────────────────────────────────────────────────────────────────

export type Load = 'ok' | 'high' | 'full' | 'off'

/** How full a mediator's docket is: `full` at max_open, `high` from 80 %, `off` if unavailable. */
export function loadOf(open: number, max: number, available = true): Load {
  if (!available) return 'off'
  if (max <= 0 || open >= max) return 'full'
  return open / max >= 0.8 ? 'high' : 'ok'
}

/** Share of max_open in use, 0–100 (a mediator over their maximum shows 100). */
export function loadPercent(open: number, max: number): number {
  if (max <= 0) return open > 0 ? 100 : 0
  return Math.min(100, Math.round((open / max) * 100))
}

// ─── Chart options (ECharts), built from the figures and the current language ─────────────
// The page rebuilds them when the language changes, so legends, axis names and month labels
// follow the locale switch without a reload.

type Tr = (key: string, params?: Record<string, unknown>) => string

export interface MonthFigures {
  year: number
  by_month: { month: number; disputes: Metric; settled: Metric }[]
}

export function monthChartOption(s: MonthFigures, tr: Tr): Record<string, unknown> {
  const months = Array.from({ length: 12 }, (_, i) => tr('stats.month', { m: i + 1 }))
  const byMonth = (k: 'disputes' | 'settled', prev = false) =>
    months.map((_, i) => {
      const m = s.by_month.find((x) => x.month === i + 1)?.[k]
      return (prev ? m?.previous : m?.value) ?? 0
    })
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 40, right: 16, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: months },
    yAxis: { type: 'value', minInterval: 1 },
    series: [
      { name: tr('stats.series.disputes', { y: s.year }), type: 'bar', data: byMonth('disputes'), itemStyle: { color: '#1f3a60' } },
      { name: tr('stats.series.disputes', { y: s.year - 1 }), type: 'bar', data: byMonth('disputes', true), itemStyle: { color: '#9fb3cf' } },
      { name: tr('stats.series.settled', { y: s.year }), type: 'line', data: byMonth('settled'), itemStyle: { color: '#1a9a5b' } },
    ],
  }
}

export interface TypeFigures {
  year: number
  by_type: { key: string; label: string; disputes: Metric; settled: Metric }[]
}

export function typeChartOption(s: TypeFigures, tr: Tr, label: (g: { key: string; label: string }) => string): Record<string, unknown> {
  const types = s.by_type.filter((g) => (g.disputes.value || 0) > 0 || (g.disputes.previous || 0) > 0)
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 90, right: 16, top: 36, bottom: 20 },
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: { type: 'category', data: types.map(label) },
    series: [
      { name: tr('stats.series.disputes', { y: s.year }), type: 'bar', data: types.map((g) => g.disputes.value ?? 0), itemStyle: { color: '#1f3a60' } },
      { name: tr('stats.series.settled', { y: s.year }), type: 'bar', data: types.map((g) => g.settled.value ?? 0), itemStyle: { color: '#1a9a5b' } },
    ],
  }
}
