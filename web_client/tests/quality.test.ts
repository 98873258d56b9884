import { describe, expect, it } from 'vitest'
import { qualityBetween, sampleStats } from '../src/lib/quality'

const report = (rtt: number, received: number, lost: number) => [
  { type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: rtt },
  { type: 'inbound-rtp', kind: 'video', packetsReceived: received, packetsLost: lost, framesDecoded: 10 },
]

describe('connection quality from getStats', () => {
  it('is good on a clean, fast link', () => {
    const a = sampleStats(report(0.02, 100, 0))
    const b = sampleStats(report(0.03, 300, 0))
    expect(qualityBetween(a, b)).toBe('good')
  })
  it('is fair with some loss or a slow round trip', () => {
    expect(qualityBetween(sampleStats(report(0.02, 100, 0)), sampleStats(report(0.02, 200, 4)))).toBe('fair')
    expect(qualityBetween(null, sampleStats(report(0.3, 10, 0)))).toBe('fair')
  })
  it('is poor with heavy loss', () => {
    expect(qualityBetween(sampleStats(report(0.02, 100, 0)), sampleStats(report(0.02, 180, 20)))).toBe('poor')
  })
  it('is unknown before anything was measured', () => {
    expect(qualityBetween(null, sampleStats([]))).toBe('unknown')
  })
})
