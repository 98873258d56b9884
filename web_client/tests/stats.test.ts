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
