import { describe, expect, it } from 'vitest'
import { existingAudience, groupMembers, isVoidedFor, mustClearTick, reachesAll, seenOf } from '../src/lib/signing'
import type { RoomParticipant } from '../src/lib/types'

const H4 = 'a'.repeat(64)
const H5 = 'b'.repeat(64)

describe('the tick is for the text that was on screen', () => {
  it('keeps the tick while the same version and hash are shown', () => {
    expect(mustClearTick({ version: 4, text_sha256: H4 }, { version: 4, text_sha256: H4 })).toBe(false)
  })
  it('clears it when a new version arrives', () => {
    expect(mustClearTick({ version: 4, text_sha256: H4 }, { version: 5, text_sha256: H5 })).toBe(true)
  })
  it('clears it when only the hash differs', () => {
    expect(mustClearTick({ version: 4, text_sha256: H4 }, { version: 4, text_sha256: H5 })).toBe(true)
  })
  it('clears it when the text is no longer shown', () => {
    expect(mustClearTick({ version: 4, text_sha256: H4 }, { version: null, text_sha256: null })).toBe(true)
    expect(mustClearTick({ version: 4, text_sha256: H4 }, null)).toBe(true)
  })
  it('has nothing to clear without a tick', () => {
    expect(mustClearTick(null, { version: 5, text_sha256: H5 })).toBe(false)
  })
  it('remembers nothing for a reader shown no text', () => {
    expect(seenOf({ version: null, text_sha256: null })).toBeNull()
    expect(seenOf({ version: 3, text_sha256: H4 })).toEqual({ version: 3, text_sha256: H4 })
  })
})

describe('voided signatures', () => {
  it('concern me only while signing and while I am listed', () => {
    expect(isVoidedFor({ status: 'signing', voided: ['p1'] }, 'p1')).toBe(true)
    expect(isVoidedFor({ status: 'signing', voided: ['p2'] }, 'p1')).toBe(false)
    expect(isVoidedFor({ status: 'draft', voided: ['p1'] }, 'p1')).toBe(false)
    expect(isVoidedFor({ status: 'signing' }, 'p1')).toBe(false)
    expect(isVoidedFor({ status: 'signing', voided: ['p1'] }, null)).toBe(false)
  })
})

describe('audience of an edit', () => {
  const person = (id: string, name: string, group: string, kind: RoomParticipant['kind'] = 'party', presence: RoomParticipant['presence'] = 'admitted') =>
    ({ participant_id: id, display_name: name, group, kind, presence }) as RoomParticipant
  const people = [
    person('m', '王法官', 'main', 'mediator'),
    person('a', '张三', 'caucus-1'),
    person('b', '李四', 'main'),
    person('c', '赵六', 'main', 'party', 'lobby'),
  ]

  it('names the admitted non-staff members of a group', () => {
    expect(groupMembers(people, 'main')).toEqual(['李四'])
    expect(groupMembers(people, 'caucus-1')).toEqual(['张三'])
    expect(groupMembers(people, 'caucus-9')).toEqual([])
  })
  it('drops groups that no longer exist, main first', () => {
    const groups = [{ group_id: 'caucus-2' }, { group_id: 'main' }]
    expect(existingAudience(['caucus-2', 'caucus-1', 'main', 'main'], groups)).toEqual(['main', 'caucus-2'])
    expect(existingAudience(['caucus-1'], groups)).toEqual([])
  })
  it('tells a save that reaches the whole audience from one that reaches part of it', () => {
    expect(reachesAll(['main', 'caucus-1'], ['main', 'caucus-1'])).toBe(true)
    expect(reachesAll(['caucus-1'], ['main', 'caucus-1'])).toBe(false)
    expect(reachesAll([], [])).toBe(false)
  })
})
