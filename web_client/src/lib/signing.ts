/**
 * What a signer has seen and what the mediator's edits reach: the pure decisions behind the
 * agreement panel (a party signing) and the agreement editor (the judge drafting).
 */
import type { AgreementView, RoomParticipant } from './types'

/** The text a party had on screen when they ticked "I have read it" (or began to sign). */
export interface SeenText {
  version: number
  text_sha256: string
}

export type ShownText = { version: number | null; text_sha256: string | null } | null | undefined

/** The version/hash now on screen, or null when the reader is shown no text. */
export function seenOf(doc: ShownText): SeenText | null {
  if (!doc || doc.version == null || !doc.text_sha256) return null
  return { version: doc.version, text_sha256: doc.text_sha256 }
}

/**
 * Whether the tick (and the drawing next to it) must be cleared: it was given for a text that is
 * no longer the one on screen. A signature is only for the text the party read.
 */
export function mustClearTick(seen: SeenText | null, now: ShownText): boolean {
  if (!seen) return false
  const cur = seenOf(now)
  return !cur || cur.version !== seen.version || cur.text_sha256 !== seen.text_sha256
}

/** Whether my earlier signature was voided by an edit and I have not signed again. */
export function isVoidedFor(doc: Pick<AgreementView, 'voided' | 'status'> | null | undefined, pid: string | null | undefined): boolean {
  return !!doc && !!pid && doc.status === 'signing' && !!doc.voided?.includes(pid)
}

const STAFF = new Set(['mediator', 'clerk'])

/** Display names of the non-staff people in a group (staff see every version anyway). */
export function groupMembers(participants: RoomParticipant[], group: string): string[] {
  return participants
    .filter((p) => p.group === group && !STAFF.has(p.kind) && (p.presence === 'admitted' || p.presence === 'reconnecting'))
    .map((p) => p.display_name)
}

/** The audience ids that still name an existing group, main first: a closed caucus is gone. */
export function existingAudience(audience: string[], groups: { group_id: string }[]): string[] {
  const ids = new Set(groups.map((g) => g.group_id))
  return [...new Set(audience)].filter((g) => ids.has(g)).sort((a, b) => (a === 'main' ? -1 : b === 'main' ? 1 : a.localeCompare(b)))
}

/** Whether a save reaching `reach` reaches the whole audience (else it reaches only part of it). */
export function reachesAll(reach: string[], audience: string[]): boolean {
  return audience.length > 0 && audience.every((g) => reach.includes(g))
}
