import { afterEach, describe, expect, it } from 'vitest'
import {
  caucusPeriods,
  courtDate,
  formatCourtClock,
  formatCourtDateTime,
  formatCourtTime,
  inSpans,
  parseCourtInput,
  roleKey,
  toCourtInput,
  wallClock,
  zoneLabel,
  zoneOffsetMinutes,
} from '../src/lib/courtTime'

// The browser's own zone: what the clerk's PC is set to. Node re-reads TZ when it changes.
const originalTz = process.env.TZ
function browserZone(tz: string) {
  process.env.TZ = tz
}
afterEach(() => {
  if (originalTz === undefined) delete process.env.TZ
  else process.env.TZ = originalTz
})

const SHANGHAI = 'Asia/Shanghai'

for (const tz of ['UTC', 'America/New_York', 'Asia/Shanghai']) {
  describe(`a browser in ${tz}`, () => {
    it('reads 10:30 typed as court time as 02:30Z (Asia/Shanghai has no DST)', () => {
      browserZone(tz)
      expect(parseCourtInput('2026-12-03T10:30', SHANGHAI)?.toISOString()).toBe('2026-12-03T02:30:00.000Z')
      // summer too: Shanghai is +08:00 all year, New York is not
      expect(parseCourtInput('2026-07-01T10:30', SHANGHAI)?.toISOString()).toBe('2026-07-01T02:30:00.000Z')
      // just after midnight: the UTC instant is the day before
      expect(parseCourtInput('2026-12-03T00:15', SHANGHAI)?.toISOString()).toBe('2026-12-02T16:15:00.000Z')
    })

    it('shows 02:30Z as 10:30 court time', () => {
      browserZone(tz)
      expect(formatCourtTime('2026-12-03T02:30:00Z', 'zh-CN', SHANGHAI)).toContain('10:30')
      expect(formatCourtTime('2026-12-03T02:30:00Z', 'en', SHANGHAI)).toContain('10:30')
      expect(formatCourtTime('2026-12-03T02:30:00Z', 'en', SHANGHAI)).not.toContain('18:30')
      expect(formatCourtClock('2026-12-03T02:31:05Z', 'zh-CN', SHANGHAI)).toBe('10:31:05')
      const long = formatCourtDateTime('2026-12-03T02:30:00Z', 'zh-CN', SHANGHAI)
      expect(long).toContain('2026')
      expect(long).toContain('12')
      expect(long).toContain('3')
      expect(long).toContain('10:30')
    })

    it('fills the datetime-local input with the court time, round trip', () => {
      browserZone(tz)
      expect(toCourtInput('2026-12-03T02:30:00Z', SHANGHAI)).toBe('2026-12-03T10:30')
      const back = parseCourtInput(toCourtInput('2026-12-03T02:30:00Z', SHANGHAI), SHANGHAI)
      expect(back?.toISOString()).toBe('2026-12-03T02:30:00.000Z')
    })

    it("names the court's day, not the browser's", () => {
      browserZone(tz)
      // 17:00Z on the 2nd is 01:00 on the 3rd in Shanghai
      expect(courtDate(new Date('2026-12-02T17:00:00Z'), SHANGHAI)).toBe('2026-12-03')
      expect(courtDate(new Date('2026-12-02T15:59:59Z'), SHANGHAI)).toBe('2026-12-02')
    })

    it('measures zone offsets', () => {
      browserZone(tz)
      expect(zoneOffsetMinutes('2026-12-03T02:30:00Z', SHANGHAI)).toBe(480)
      expect(zoneOffsetMinutes('2026-07-01T02:30:00Z', SHANGHAI)).toBe(480)
      expect(zoneOffsetMinutes('2026-12-03T02:30:00Z', 'America/New_York')).toBe(-300)
      expect(zoneOffsetMinutes('2026-07-01T02:30:00Z', 'America/New_York')).toBe(-240)
      expect(wallClock('2026-12-03T16:00:00Z', SHANGHAI)).toEqual({ year: 2026, month: 12, day: 4, hour: 0, minute: 0, second: 0 })
    })
  })
}

describe('the bug this module fixes', () => {
  it('new Date(datetime-local value) depends on the browser zone', () => {
    browserZone('UTC')
    const naive = new Date('2026-12-03T10:30').toISOString()
    expect(naive).toBe('2026-12-03T10:30:00.000Z') // listed at 18:30 in Shanghai
    expect(naive).not.toBe(parseCourtInput('2026-12-03T10:30', SHANGHAI)?.toISOString())
    browserZone('America/New_York')
    expect(new Date('2026-12-03T10:30').toISOString()).toBe('2026-12-03T15:30:00.000Z')
  })
})

describe('courts in a zone with DST', () => {
  it('reads wall times in New York with the offset in force then', () => {
    browserZone('Asia/Shanghai')
    expect(parseCourtInput('2026-12-03T10:30', 'America/New_York')?.toISOString()).toBe('2026-12-03T15:30:00.000Z')
    expect(parseCourtInput('2026-07-01T10:30', 'America/New_York')?.toISOString()).toBe('2026-07-01T14:30:00.000Z')
    // the day after the spring change
    expect(parseCourtInput('2026-03-09T09:00', 'America/New_York')?.toISOString()).toBe('2026-03-09T13:00:00.000Z')
  })
})

describe('input and labels', () => {
  it('refuses what is not a date and time', () => {
    expect(parseCourtInput('', SHANGHAI)).toBeNull()
    expect(parseCourtInput('tomorrow', SHANGHAI)).toBeNull()
    expect(parseCourtInput('2026-12-03 10:30', SHANGHAI)?.toISOString()).toBe('2026-12-03T02:30:00.000Z')
  })

  it('names the zone', () => {
    expect(zoneLabel(SHANGHAI, 'zh-CN')).toBe('北京时间')
    expect(zoneLabel(SHANGHAI, 'en')).toBe('Asia/Shanghai, UTC+8')
    expect(zoneLabel('Asia/Kolkata', 'en')).toBe('Asia/Kolkata, UTC+5:30')
  })

  it('maps the court’s role labels to keys', () => {
    expect(roleKey('申请人')).toBe('applicant')
    expect(roleKey('法官')).toBe('judge')
    expect(roleKey('庭务主任')).toBe('terminal')
    expect(roleKey('applicant')).toBe('applicant')
    expect(roleKey('')).toBe('')
  })
})

describe("a recording's caucus periods", () => {
  const origin = Date.parse('2026-12-03T02:00:00Z')
  const at = (s: number) => new Date(origin + s * 1000).toISOString()

  it('follows open, move and close from the manifest', () => {
    const spans = caucusPeriods(
      [
        { time: at(60), payload: { group: null, members: ['judge', 'a'] } }, // opened
        { time: at(90), payload: { group: 'caucus-1', members: ['b'] } }, // b joins
        { time: at(120), payload: { group: 'main', members: ['a'] } }, // a back
        { time: at(180), payload: { group: null, members: [] } }, // closed
        { time: at(300), payload: { group: null, members: ['b'] } }, // a second one, never closed
      ],
      origin,
      400,
    )
    expect(spans).toEqual({ judge: [[60, 180]], a: [[60, 120]], b: [[90, 180], [300, 400]] })
    expect(inSpans(spans.a, 100)).toBe(true)
    expect(inSpans(spans.a, 150)).toBe(false)
    expect(inSpans(spans.b, 350)).toBe(true)
    expect(inSpans(spans.c, 100)).toBe(false)
  })

  it('ignores changes without a time and sorts the rest', () => {
    const spans = caucusPeriods(
      [
        { time: at(50), payload: { group: null, members: [] } },
        { payload: { group: null, members: ['x'] } },
        { time: at(10), payload: { group: null, members: ['a'] } },
      ],
      origin,
      100,
    )
    expect(spans).toEqual({ a: [[10, 50]] })
  })
})
