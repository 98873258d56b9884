import { describe, expect, it } from 'vitest'
import { MasterClock, formatClock, needsSeek, positionIn, timelineDuration } from '../src/lib/syncClock'

describe('player sync math', () => {
  const track = { offset_s: 12.5, duration_s: 60 }
  it('maps session time to file time (t - offset), inactive outside the file', () => {
    expect(positionIn(track, 0)).toEqual({ active: false, time: 0 })
    expect(positionIn(track, 12.5)).toEqual({ active: true, time: 0 })
    expect(positionIn(track, 42.5)).toEqual({ active: true, time: 30 })
    expect(positionIn(track, 72.5)).toEqual({ active: true, time: 60 })
    expect(positionIn(track, 80)).toEqual({ active: false, time: 60 })
  })
  it('seeks only on real drift', () => {
    expect(needsSeek(10, 10.2)).toBe(false)
    expect(needsSeek(10, 10.6)).toBe(true)
    expect(needsSeek(10, 10.06, 0.05)).toBe(true)
  })
  it('spans the latest track end', () => {
    expect(timelineDuration([track, { offset_s: 0, duration_s: 30 }])).toBe(72.5)
    expect(timelineDuration([], 15)).toBe(15)
  })
  it('formats the clock', () => {
    expect(formatClock(65.9)).toBe('01:05')
    expect(formatClock(3725)).toBe('1:02:05')
  })
})

describe('MasterClock', () => {
  it('advances with (injected) time while playing, at the rate, and stops at the end', () => {
    let now = 100
    const c = new MasterClock(10, 1, () => now)
    expect(c.time()).toBe(0)
    c.play()
    now = 103
    expect(c.time()).toBeCloseTo(3)
    c.pause()
    now = 110
    expect(c.time()).toBeCloseTo(3)
    c.setRate(2)
    c.play()
    now = 111
    expect(c.time()).toBeCloseTo(5)
    now = 130
    expect(c.time()).toBe(10)
    expect(c.playing).toBe(false)
  })
  it('seeks within bounds and keeps playing', () => {
    let now = 0
    const c = new MasterClock(20, 1, () => now)
    c.play()
    c.seek(15)
    now = 2
    expect(c.time()).toBeCloseTo(17)
    c.seek(-5)
    expect(c.time()).toBe(0)
    c.seek(99)
    expect(c.time()).toBe(20)
  })
  it('restarts from the beginning when played at the end', () => {
    let now = 0
    const c = new MasterClock(5, 1, () => now)
    c.seek(5)
    c.play()
    now = 1
    expect(c.time()).toBeCloseTo(1)
  })
})
