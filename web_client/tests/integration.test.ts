import { describe, expect, it } from 'vitest'
import zh from '../src/locales/zh-CN.json'
import en from '../src/locales/en.json'
import { ApiError } from '../src/lib/api'
import { EVENTS, SCOPES, canReplay, courtTime, deliveryState, errorParts, labelKey, webhookHealth } from '../src/components/integration/integration'

describe('integration page helpers', () => {
  it('names every scope and event in both languages', () => {
    for (const s of SCOPES) {
      expect(zh.integration.scopes[labelKey(s) as keyof typeof zh.integration.scopes], s).toMatch(/[\u4e00-\u9fff]/)
      expect(en.integration.scopes[labelKey(s) as keyof typeof en.integration.scopes], s).toBeTruthy()
    }
    expect(EVENTS).toHaveLength(7)
    for (const e of EVENTS) {
      expect(zh.integration.events[labelKey(e) as keyof typeof zh.integration.events], e).toMatch(/[\u4e00-\u9fff]/)
      expect(en.integration.events[labelKey(e) as keyof typeof en.integration.events], e).toBeTruthy()
    }
  })
  it('tells retrying deliveries from pending ones, and offers replay only after a failure', () => {
    expect(deliveryState({ status: 'pending', attempts: 0 })).toBe('pending')
    expect(deliveryState({ status: 'pending', attempts: 2 })).toBe('retrying')
    expect(deliveryState({ status: 'failed', attempts: 8 })).toBe('failed')
    expect(deliveryState({ status: 'delivered', attempts: 1 })).toBe('delivered')
    expect(canReplay({ status: 'failed', attempts: 8 }, true)).toBe(true)
    expect(canReplay({ status: 'pending', attempts: 1 }, true)).toBe(true)
    expect(canReplay({ status: 'pending', attempts: 0 }, true)).toBe(false)
    expect(canReplay({ status: 'delivered', attempts: 1 }, true)).toBe(false)
    expect(canReplay({ status: 'failed', attempts: 8 }, false)).toBe(false)
  })
  it('sums up a webhook health', () => {
    expect(webhookHealth({ failing: true, consecutive_failures: 5, last_success_at: null })).toBe('failing')
    expect(webhookHealth({ failing: false, consecutive_failures: 2, last_success_at: null })).toBe('retrying')
    expect(webhookHealth({ failing: false, consecutive_failures: 0, last_success_at: '2026-12-02T01:00:00Z' })).toBe('healthy')
    expect(webhookHealth({ failing: false, consecutive_failures: 0, last_success_at: null })).toBe('untested')
  })
  it('keeps the reason of a refused target next to its Chinese message', () => {
    const e = new ApiError(400, 'webhook_target_refused', '回调地址须为公网地址 / webhook target refused: webhook target 127.0.0.1 is a non-public address (loopback)')
    const zhParts = errorParts(e, 'zh-CN', 'x')
    expect(zhParts.text).toBe('回调地址须为公网地址')
    expect(zhParts.detail).toContain('loopback')
    expect(errorParts(e, 'en', 'x')).toMatchObject({ text: expect.stringContaining('loopback'), detail: '' })
    expect(errorParts(new ApiError(0, 'network', 'a / b'), 'zh-CN', '无法连接').text).toBe('无法连接')
  })
  it('shows times in the courts time zone', () => {
    expect(courtTime('2026-12-02T17:29:32Z')).toBe('2026-12-03 01:29:32')
    expect(courtTime(null)).toBe('')
  })
})
