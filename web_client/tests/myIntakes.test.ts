import { describe, expect, it } from 'vitest'
import { markSeen, mine, newlyAssigned, nextSessions, seenIds } from '../src/lib/myIntakes'

const intake = (id: string, status: string, mediator: string | null, received = '2026-03-01T00:00:00Z') => ({
  id,
  case_id: 'c-' + id,
  status,
  mediator_id: mediator,
  received_at: received,
})

function memory() {
  const m = new Map<string, string>()
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) }
}

describe("the mediator's intakes", () => {
  it('keeps only those assigned to the user, open ones first', () => {
    const list = [
      intake('a', 'settled', 'u1', '2026-03-05T00:00:00Z'),
      intake('b', 'assigned', 'u2'),
      intake('c', 'scheduled', 'u1', '2026-03-02T00:00:00Z'),
      intake('d', 'received', null),
    ]
    expect(mine(list, 'u1').map((i) => i.id)).toEqual(['c', 'a'])
  })
  it('finds the next scheduled session of each case', () => {
    const next = nextSessions([
      { case_id: 'x', scheduled_at: '2026-03-03T02:00:00Z', status: 'scheduled' },
      { case_id: 'x', scheduled_at: '2026-03-02T02:00:00Z', status: 'scheduled' },
      { case_id: 'y', scheduled_at: '2026-03-01T02:00:00Z', status: 'ended' },
    ])
    expect(next.x.scheduled_at).toBe('2026-03-02T02:00:00Z')
    expect(next.y).toBeUndefined()
  })
  it('counts open intakes not seen yet, per user', () => {
    const store = memory()
    const own = [intake('a', 'assigned', 'u1'), intake('b', 'failed', 'u1'), intake('c', 'scheduled', 'u1')]
    expect(newlyAssigned(own, seenIds('u1', store)).map((i) => i.id)).toEqual(['a', 'c'])
    markSeen('u1', own.map((i) => i.id), store)
    expect(newlyAssigned(own, seenIds('u1', store))).toEqual([])
    expect(seenIds('u2', store).size).toBe(0)
    store.setItem('sharedcourt.seenIntakes.u3', 'not json')
    expect(seenIds('u3', store).size).toBe(0)
  })
})
