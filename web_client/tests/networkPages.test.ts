import { describe, expect, it } from 'vitest'
import { ApiError } from '../src/lib/api'
import { STATUSES, actorName, courtDay, errorText, isUnassignable, load, needsReason, nextStatuses } from '../src/components/network/network'

describe('network pages helpers', () => {
  it('offers the status steps the server allows, never received → assigned', () => {
    expect(nextStatuses('received')).toEqual(['withdrawn'])
    expect(nextStatuses('assigned')).not.toContain('assigned')
    expect(nextStatuses('scheduled')).toContain('assigned')
    for (const closed of ['settled', 'partially_settled', 'failed', 'withdrawn'] as const) expect(nextStatuses(closed)).toEqual([])
    for (const s of STATUSES) expect(nextStatuses(s)).not.toContain(s)
  })
  it('asks for a reason exactly on the steps back', () => {
    expect(needsReason('scheduled', 'assigned')).toBe(true)
    expect(needsReason('mediating', 'assigned')).toBe(true)
    expect(needsReason('assigned', 'scheduled')).toBe(false)
    expect(needsReason('mediating', 'scheduled')).toBe(false)
  })
  it('flags only the unassignable reasons', () => {
    expect(isUnassignable('no_specialist')).toBe(true)
    expect(isUnassignable('all_at_capacity')).toBe(true)
    expect(isUnassignable('awaiting_assignment')).toBe(false)
    expect(isUnassignable(null)).toBe(false)
  })
  it('shows the Chinese part of a server error in zh-CN', () => {
    const e = new ApiError(400, 'reason_required', '退回状态须写明原因 / a step back needs a reason (note)')
    expect(errorText(e, 'zh-CN', 'x')).toBe('退回状态须写明原因')
    expect(errorText(e, 'en', 'x')).toBe('a step back needs a reason (note)')
    expect(errorText(new ApiError(0, 'network', 'a / b'), 'zh-CN', '无法连接服务器')).toBe('无法连接服务器')
  })
  it('names actors and loads', () => {
    expect(actorName('user:u1', { u1: '李书记员' }, {}, '系统')).toBe('李书记员')
    expect(actorName('terminal:t1', {}, { t1: '径山镇' }, '系统')).toBe('径山镇')
    expect(actorName('system', {}, {}, '系统')).toBe('系统')
    expect(load({ open_intakes: 5, max_open: 5 })).toEqual({ text: '5 / 5', full: true, ratio: 1 })
    expect(load({ open_intakes: 0, max_open: 0 }).full).toBe(true)
  })
  it('dates in the court time zone', () => {
    expect(courtDay('2026-12-02T17:00:00Z')).toBe('2026-12-03')
  })
})
