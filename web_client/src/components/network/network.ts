// Shared pieces of the court's network pages (/clerk/intakes, /clerk/mediators, /clerk/network):
// the API shapes (aliased from the generated src/lib/api-types.ts), the status steps a clerk may
// record by hand, and small helpers for names and server errors.

import type { components } from '../../lib/api-types'
import type { ApiResponse } from '../../lib/types'
import { ApiError, localMessage } from '../../lib/api'
import { courtDate, courtStamp, courtZone } from '../../lib/courtTime'

type Schemas = components['schemas']
export type IntakeOut = Schemas['IntakeOut']
export type IntakeDetailOut = ApiResponse<'/api/network/intakes/{intake_id}', 'get'>
export type CandidateOut = Schemas['CandidateOut']
export type MediatorOut = Schemas['MediatorOut']
export type MediatorProfileIn = Schemas['MediatorProfileIn']
export type AreaOut = Schemas['AreaOut']
export type SharedCourtOut = Schemas['SharedCourtOut']
export type SharedCourtIn = Schemas['SharedCourtIn']
export type TerminalOut = Schemas['TerminalOut']
export type UserOut = Schemas['UserOut']
export type AlertsOut = ApiResponse<'/api/network/alerts', 'get'>
export type UncoveredTypeOut = Schemas['UncoveredTypeOut']
export type CaseType = Schemas['CaseType']
export type IntakeStatus = Schemas['IntakeStatus']
export type MediatorKind = Schemas['MediatorKind']
export type SharedCourtKind = Schemas['SharedCourtKind']

export const CASE_TYPES: CaseType[] = ['marriage_family', 'property_management', 'finance_insurance', 'neighbour', 'labour', 'other']
export const STATUSES: IntakeStatus[] = ['received', 'assigned', 'scheduled', 'mediating', 'settled', 'partially_settled', 'failed', 'withdrawn']
export const OPEN_STATUSES: IntakeStatus[] = ['received', 'assigned', 'scheduled', 'mediating']
export const MEDIATOR_KINDS: MediatorKind[] = ['industry', 'lawyer', 'teacher', 'judge', 'other']
export const SHARED_COURT_KINDS: SharedCourtKind[] = ['village', 'community', 'marriage_family', 'finance_insurance', 'property_management', 'labour', 'other']

const CLOSED: IntakeStatus[] = ['settled', 'partially_settled', 'failed']

/** The statuses the server accepts after `from` (server/court_network/service.py ALLOWED), less
 * received → assigned, which goes through the assignment (it names the mediator). */
export function nextStatuses(from: IntakeStatus): IntakeStatus[] {
  switch (from) {
    case 'received':
      return ['withdrawn']
    case 'assigned':
      return ['scheduled', 'mediating', ...CLOSED, 'withdrawn']
    case 'scheduled':
      return ['assigned', 'mediating', ...CLOSED, 'withdrawn']
    case 'mediating':
      return ['assigned', 'scheduled', ...CLOSED, 'withdrawn']
    default:
      return []
  }
}

/** A step back that needs a written reason (the server's CORRECTIONS: 400 reason_required). */
export function needsReason(from: IntakeStatus, to: IntakeStatus): boolean {
  return to === 'assigned' && (from === 'scheduled' || from === 'mediating')
}

/** Unassigned reasons that mean nobody can take the intake: shown in the warning colour. */
export function isUnassignable(code: string | null | undefined): boolean {
  return code === 'no_specialist' || code === 'all_at_capacity'
}

/** The error's text in the UI language ("中文 / English" → the Chinese part in zh-CN). */
export function errorText(e: unknown, locale: string, unreachable: string): string {
  if (e instanceof ApiError) return e.code === 'network' ? unreachable : localMessage(e.message, locale)
  return String(e)
}

/** The people an audit actor names: "user:<id>" → the user's display name. */
export function actorName(actor: string, users: Record<string, string>, terminals: Record<string, string>, system: string): string {
  const [kind, id] = actor.split(':', 2)
  if (kind === 'user' && id && users[id]) return users[id]
  if (kind === 'terminal' && id && terminals[id]) return terminals[id]
  if (actor === 'system') return system
  return actor
}

/** "3 / 10": open intakes of a mediator against their limit, and whether they are full. */
export function load(m: { open_intakes: number; max_open: number }): { text: string; full: boolean; ratio: number } {
  const ratio = m.max_open > 0 ? Math.min(1, m.open_intakes / m.max_open) : 1
  return { text: `${m.open_intakes} / ${m.max_open}`, full: m.open_intakes >= m.max_open, ratio }
}

/** The court's calendar day of an ISO time, in its zone (lib/courtTime.ts): 2026-12-02. */
export function courtDay(iso: string, zone: string = courtZone()): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : courtDate(d, zone)
}

/** Date and time (minutes) in the court's zone: 2026-12-02 14:05. */
export function courtDateTime(iso: string, zone: string = courtZone()): string {
  return courtStamp(iso, zone)
}

export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
