import { describe, expect, it } from 'vitest'
import { ApiError } from '../src/lib/api'
import { KioskError, courtDay, phoneOk, retryAfterOf, viewOf } from '../src/components/terminal/kiosk'

describe('kiosk helpers', () => {
  it('knows its screens; anything else is home', () => {
    expect(viewOf('intake')).toBe('intake')
    expect(viewOf(['book', 'x'])).toBe('book')
    expect(viewOf('nope')).toBe('')
    expect(viewOf(undefined)).toBe('')
  })
  it("counts the court's days in UTC+8", () => {
    const late = new Date('2026-12-02T17:30:00Z') // 01:30 on the 3rd in Beijing
    expect(courtDay(0, late)).toBe('2026-12-03')
    expect(courtDay(1, late)).toBe('2026-12-04')
  })
  it("accepts the phones the server's pattern accepts", () => {
    expect(phoneOk('138 1234 5678', true)).toBe(true)
    expect(phoneOk('', true)).toBe(false)
    expect(phoneOk('', false)).toBe(true)
    expect(phoneOk('12ab5', false)).toBe(false)
  })
  it("reads a 429's wait from Retry-After, else from its message", () => {
    expect(retryAfterOf(new KioskError(429, 'rate_limited', 'x', 7))).toBe(7)
    expect(retryAfterOf(new ApiError(429, 'rate_limited', '本终端查询次数过多，请 12 秒后再试 / too many, retry in 12 s'))).toBe(12)
    expect(retryAfterOf(new ApiError(404, 'not_found', '未找到'))).toBeNull()
  })
})
