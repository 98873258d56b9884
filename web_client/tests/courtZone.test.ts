import { afterEach, describe, expect, it } from 'vitest'
import { courtDate, formatTime } from '../src/lib/api'
import { DEFAULT_ZONE, applyMe, court, courtDayAfter, courtStamp, courtZone, formatCourtTime, setCourtZone } from '../src/lib/courtTime'
import { courtTime } from '../src/components/integration/integration'
import { courtDateTime, courtDay as networkDay } from '../src/components/network/network'
import { courtDay as kioskDay, dayName } from '../src/components/terminal/kiosk'

// Every helper that shows or counts a time follows the court's zone as the server names it,
// whatever the zone of the browser; none of them may fall back to a fixed UTC+8.
const originalTz = process.env.TZ
afterEach(() => {
  if (originalTz === undefined) delete process.env.TZ
  else process.env.TZ = originalTz
  court.timezone = DEFAULT_ZONE
  court.loaded = false
})

// 18:45Z on 2 December: 00:15 on the 3rd in Kolkata (UTC+5:30), 02:45 on the 3rd in Shanghai.
const NEAR_MIDNIGHT = '2026-12-02T18:45:00Z'
// 04:30Z on 3 December: 23:30 on the 2nd in New York (UTC−5 in winter), 12:30 in Shanghai.
const NY_LATE = '2026-12-03T04:30:00Z'

for (const tz of ['UTC', 'Asia/Shanghai', 'America/Los_Angeles']) {
  describe(`a browser in ${tz}`, () => {
    it('is Asia/Shanghai until the server names the court', () => {
      process.env.TZ = tz
      expect(courtZone()).toBe('Asia/Shanghai')
      expect(formatTime(NEAR_MIDNIGHT, 'en')).toContain('02:45')
      expect(courtDate(new Date(NEAR_MIDNIGHT))).toBe('2026-12-03')
    })

    it('takes the zone of a staff member’s court from /api/auth/me', () => {
      process.env.TZ = tz
      applyMe({ court: { id: 'c1', name: '示范法院', timezone: 'Asia/Kolkata', phone: '' }, public_url: null })
      expect(court.loaded).toBe(true)
      expect(courtZone()).toBe('Asia/Kolkata')
      // the lists' time (api.ts formatTime), the day of the list (api.ts courtDate)
      expect(formatTime(NEAR_MIDNIGHT, 'en')).toBe('12/03, 00:15')
      expect(formatTime(NEAR_MIDNIGHT, 'zh-CN')).toContain('00:15')
      expect(courtDate(new Date(NEAR_MIDNIGHT))).toBe('2026-12-03')
      // the integration page (seconds) and the network pages (minutes, days)
      expect(courtTime(NEAR_MIDNIGHT)).toBe('2026-12-03 00:15:00')
      expect(courtDateTime(NEAR_MIDNIGHT)).toBe('2026-12-03 00:15')
      expect(networkDay(NEAR_MIDNIGHT)).toBe('2026-12-03')
    })

    it('takes a party’s court zone from the join info, across midnight and DST', () => {
      process.env.TZ = tz
      setCourtZone('America/New_York')
      expect(formatCourtTime(NY_LATE, 'en')).toBe('12/02, 23:30')
      expect(formatTime(NY_LATE, 'en')).toBe('12/02, 23:30')
      expect(courtDate(new Date(NY_LATE))).toBe('2026-12-02')
      expect(courtTime(NY_LATE)).toBe('2026-12-02 23:30:00')
      expect(courtDateTime(NY_LATE)).toBe('2026-12-02 23:30')
      expect(networkDay(NY_LATE)).toBe('2026-12-02')
      // summer: UTC−4
      expect(courtStamp('2026-07-01T03:30:00Z')).toBe('2026-06-30 23:30')
    })

    it('ignores a zone the browser does not know, and an empty one', () => {
      process.env.TZ = tz
      setCourtZone('Asia/Kolkata')
      setCourtZone('Mars/Olympus_Mons')
      setCourtZone('')
      expect(courtZone()).toBe('Asia/Kolkata')
      applyMe({ court: { id: 'c1', name: 'x', timezone: 'Not/AZone', phone: '' } })
      expect(courtZone()).toBe('Asia/Shanghai')
    })

    it("counts the kiosk's days in the court's calendar", () => {
      process.env.TZ = tz
      setCourtZone('Asia/Kolkata')
      const now = new Date(NEAR_MIDNIGHT) // 00:15 on the 3rd in Kolkata
      expect(kioskDay(0, now)).toBe('2026-12-03')
      expect(kioskDay(1, now)).toBe('2026-12-04')
      expect(kioskDay(29, now)).toBe('2027-01-01')
      setCourtZone('America/New_York')
      expect(kioskDay(0, new Date(NY_LATE))).toBe('2026-12-02')
      // the day DST ends (1 November 2026) is 25 hours long: still one calendar day per step
      expect(courtDayAfter(1, '2026-11-01T04:30:00Z')).toBe('2026-11-02')
      expect(courtDayAfter(1, '2026-11-02T04:30:00Z')).toBe('2026-11-02')
      // a day's name does not move with the browser's zone
      expect(dayName('2026-12-03', 'en')).toEqual({ weekday: 'Thu', monthDay: '12/3' })
      expect(dayName('2026-12-03', 'zh-CN').weekday).toBe('周四')
    })

    it('leaves a value that is no time as it is', () => {
      process.env.TZ = tz
      expect(courtTime('not a time')).toBe('not a time')
      expect(courtDateTime('garbage')).toBe('garbage')
      expect(networkDay('garbage')).toBe('garbage')
      expect(courtTime(null)).toBe('')
    })
  })
}
