// The mediator's own intakes on the console: which are assigned to them, the next session of
// each, and which were assigned since they last looked (remembered per user in localStorage).

export const OPEN_STATUSES = new Set(['received', 'assigned', 'scheduled', 'mediating'])

export interface IntakeLike {
  id: string
  case_id: string
  status: string
  mediator_id: string | null
  received_at: string
}

export interface SessionLike {
  case_id: string
  scheduled_at: string
  status: string
}

/** A judge reads every intake of the court: the console shows only those assigned to them. */
export function mine<T extends IntakeLike>(intakes: T[], userId: string): T[] {
  const own = intakes.filter((i) => i.mediator_id === userId)
  // Open ones first, then the most recent.
  return own.sort(
    (a, b) => Number(OPEN_STATUSES.has(b.status)) - Number(OPEN_STATUSES.has(a.status)) || b.received_at.localeCompare(a.received_at),
  )
}

/** case_id → the earliest scheduled (or live) session of the case. */
export function nextSessions<T extends SessionLike>(sessions: T[]): Record<string, T> {
  const out: Record<string, T> = {}
  for (const s of sessions) {
    if (s.status !== 'scheduled' && s.status !== 'live') continue
    const cur = out[s.case_id]
    if (!cur || new Date(s.scheduled_at).getTime() < new Date(cur.scheduled_at).getTime()) out[s.case_id] = s
  }
  return out
}

export interface KeyValueStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

const storeKey = (userId: string) => `sharedcourt.seenIntakes.${userId}`

export function seenIds(userId: string, store: KeyValueStore | null = globalThis.localStorage ?? null): Set<string> {
  try {
    const raw = store?.getItem(storeKey(userId))
    const list = raw ? JSON.parse(raw) : []
    return new Set(Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [])
  } catch {
    return new Set()
  }
}

/** Remember these intakes as seen (only the ids still assigned are kept: the list stays small). */
export function markSeen(userId: string, ids: string[], store: KeyValueStore | null = globalThis.localStorage ?? null): void {
  try {
    store?.setItem(storeKey(userId), JSON.stringify([...new Set(ids)]))
  } catch {
    // Private mode or a full store: the notice simply comes back next time.
  }
}

/** Open intakes assigned to the user that they have not seen on the console yet. */
export function newlyAssigned<T extends IntakeLike>(own: T[], seen: Set<string>): T[] {
  return own.filter((i) => OPEN_STATUSES.has(i.status) && !seen.has(i.id))
}
