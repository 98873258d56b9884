import { describe, expect, it } from 'vitest'
import { formatChange, formatMetric } from '../src/lib/stats'

describe('statistics formatting', () => {
  it('formats values by kind', () => {
    expect(formatMetric(12, 'count')).toBe('12')
    expect(formatMetric(0.8125, 'ratio')).toBe('81.3%')
    expect(formatMetric(3.25, 'days')).toBe('3.3')
    expect(formatMetric(1.23456, 'rate')).toBe('1.23')
    expect(formatMetric(null, 'count')).toBe('—')
  })
  it('formats year-on-year changes', () => {
    expect(formatChange({ value: 15, previous: 12, change: 3, change_ratio: 0.25 }, 'count')).toBe('+3（+25.0%）')
    expect(formatChange({ value: 0.5, previous: 0.6, change: -0.1, change_ratio: -0.1667 }, 'ratio')).toBe('−10.0 pct')
    expect(formatChange({ value: 3, previous: 0, change: 3, change_ratio: null }, 'count')).toBe('+3')
    expect(formatChange({ value: null, previous: null, change: null, change_ratio: null }, 'count')).toBe('—')
  })
})

import { loadOf, loadPercent, monthChartOption, trendOf, typeChartOption } from '../src/lib/stats'

describe('year-on-year colouring by meaning', () => {
  const up = { change: 2 }
  const down = { change: -1 }
  it('calls a rise in failed, withdrawn, days to close or backlog bad', () => {
    for (const k of ['failed', 'withdrawn', 'median_days', 'p90_days', 'unassigned', 'waiting_longer', 'lawsuits_per_10k']) {
      expect(trendOf(k, up), k).toBe('bad')
      expect(trendOf(k, down), k).toBe('good')
    }
  })
  it('calls a rise in settled or the success rate good', () => {
    for (const k of ['settled', 'success_rate', 'closed']) {
      expect(trendOf(k, up), k).toBe('good')
      expect(trendOf(k, down), k).toBe('bad')
    }
  })
  it('leaves figures without a direction neutral, and no change as none', () => {
    expect(trendOf('disputes', up)).toBe('neutral')
    expect(trendOf('unknown_figure', up)).toBe('neutral')
    expect(trendOf('failed', { change: 0 })).toBe('none')
    expect(trendOf('failed', { change: null })).toBe('none')
  })
})

describe('workload', () => {
  it('grades the load against max_open', () => {
    expect(loadOf(1, 10)).toBe('ok')
    expect(loadOf(8, 10)).toBe('high')
    expect(loadOf(10, 10)).toBe('full')
    expect(loadOf(0, 0)).toBe('full')
    expect(loadOf(1, 10, false)).toBe('off')
    expect(loadPercent(3, 4)).toBe(75)
    expect(loadPercent(6, 4)).toBe(100)
    expect(loadPercent(0, 0)).toBe(0)
  })
})

describe('chart options follow the language', () => {
  const metric = (v: number) => ({ value: v, previous: 0, change: v, change_ratio: null })
  const s = {
    year: 2026,
    by_month: [{ month: 3, disputes: metric(2), settled: metric(1) }],
    by_type: [{ key: 'labour', label: '劳动争议', disputes: metric(2), settled: metric(1) }],
  }
  const zh = (k: string, p?: Record<string, unknown>) => (k === 'stats.month' ? `${p?.m}月` : k === 'stats.series.disputes' ? `${p?.y}年纠纷数` : `${p?.y}年调解成功`)
  const en = (k: string, p?: Record<string, unknown>) => (k === 'stats.month' ? `M${p?.m}` : k === 'stats.series.disputes' ? `Disputes ${p?.y}` : `Settled ${p?.y}`)
  it('names the series and months in the given language', () => {
    const a = monthChartOption(s, zh) as { series: { name: string; data: number[] }[]; xAxis: { data: string[] } }
    const b = monthChartOption(s, en) as typeof a
    expect(a.series.map((x) => x.name)).toEqual(['2026年纠纷数', '2025年纠纷数', '2026年调解成功'])
    expect(b.series.map((x) => x.name)).toEqual(['Disputes 2026', 'Disputes 2025', 'Settled 2026'])
    expect(b.xAxis.data[2]).toBe('M3')
    expect(a.series[0].data[2]).toBe(2)
    const ty = typeChartOption(s, en, () => 'Labour') as { yAxis: { data: string[] } }
    expect(ty.yAxis.data).toEqual(['Labour'])
  })
})
