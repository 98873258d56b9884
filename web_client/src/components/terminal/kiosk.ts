// Shared pieces of the village terminal's kiosk (/terminal): the API shapes (aliased from the
// generated src/lib/api-types.ts), the terminal's bearer calls, the screens, the live session
// remembered across a reload or a power cut, and the Chinese messages of the server's refusals.

import { inject, type InjectionKey } from 'vue'
import type { components } from '../../lib/api-types'
import type { ApiResponse } from '../../lib/types'
import { ApiError, localMessage } from '../../lib/api'
import { courtDayAfter, courtZone } from '../../lib/courtTime'

type Schemas = components['schemas']
export type CaseType = Schemas['CaseType']
export type IntakeStatus = Schemas['IntakeStatus']
export type TerminalIntakeIn = Schemas['TerminalIntakeIn']
export type IntakeOut = ApiResponse<'/api/network/terminal/intakes', 'post'>
export type IntakeDetailOut = ApiResponse<'/api/network/terminal/intakes/{intake_id}', 'get'>
export type AttachmentOut = ApiResponse<'/api/network/terminal/intakes/{intake_id}/attachments', 'post'>
export type SlotsOut = ApiResponse<'/api/network/terminal/slots', 'get'>
export type SlotOut = SlotsOut['slots'][number]
export type BookableOut = ApiResponse<'/api/network/terminal/mediators', 'get'>[number]
export type BookingOut = ApiResponse<'/api/network/terminal/bookings', 'post'>
export type LookupOut = ApiResponse<'/api/network/terminal/lookup', 'post'>

export const CASE_TYPES: CaseType[] = ['marriage_family', 'property_management', 'finance_insurance', 'neighbour', 'labour', 'other']
/** Intakes a session can be booked for: assigned and still open (the server's rule). */
export const BOOKABLE: IntakeStatus[] = ['assigned', 'scheduled', 'mediating']
export const OPEN: IntakeStatus[] = ['received', 'assigned', 'scheduled', 'mediating']

/** The kiosk's screens, one task each: /terminal/<view>[/<id>]; '' is the home screen. */
export const VIEWS = ['intake', 'intakes', 'book', 'lookup', 'edu'] as const
export type KioskView = (typeof VIEWS)[number]
export function viewOf(param: unknown): KioskView | '' {
  const v = Array.isArray(param) ? param[0] : param
  return (VIEWS as readonly string[]).includes(String(v || '')) ? (v as KioskView) : ''
}

/** Back to the home screen after this long without a touch (3 minutes). */
export const IDLE_MS = 180_000

/** A refusal of the server, with a 429's `Retry-After` (whole seconds) when it sent one. */
export class KioskError extends ApiError {
  constructor(status: number, code: string, message: string, public retryAfter: number | null = null) {
    super(status, code, message)
  }
}

export interface KioskRequest {
  method?: string
  body?: unknown
  query?: Record<string, string | number | undefined>
  /** multipart: the file of field 'file' and its name. */
  file?: { blob: Blob; name: string }
}

/** One call with the terminal's bearer token: JSON in and out, or a multipart upload. */
export async function terminalFetch<T>(path: string, bearer: string, req: KioskRequest = {}): Promise<T> {
  const method = (req.method || (req.body !== undefined || req.file ? 'POST' : 'GET')).toUpperCase()
  const headers: Record<string, string> = { Accept: 'application/json', Authorization: `Bearer ${bearer}` }
  let body: BodyInit | undefined
  if (req.file) {
    const form = new FormData()
    form.append('file', req.file.blob, req.file.name)
    body = form
  } else if (req.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(req.body)
  }
  let url = path
  if (req.query) {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(req.query)) if (v !== undefined && v !== '') q.set(k, String(v))
    if (q.toString()) url += `?${q}`
  }
  let res: Response
  try {
    res = await fetch(url, { method, headers, body, credentials: 'omit' })
  } catch {
    throw new KioskError(0, 'network', '无法连接服务器 / cannot reach the server')
  }
  const text = await res.text()
  let data: unknown = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | null)?.error
    const wait = Number(res.headers.get('Retry-After'))
    throw new KioskError(
      res.status,
      err?.code || (res.status >= 500 ? 'server_unavailable' : 'http_' + res.status),
      err?.message || `请求失败 / request failed (${res.status})`,
      Number.isFinite(wait) && wait > 0 ? Math.ceil(wait) : null,
    )
  }
  return data as T
}

/** The terminal's calls (provided by TerminalPage): its token, renewed with the device key on a 401. */
export interface KioskApi {
  call<T>(path: string, req?: KioskRequest): Promise<T>
}
export const KIOSK_API: InjectionKey<KioskApi> = Symbol('kiosk-api')

export function useKioskApi(): KioskApi {
  const k = inject(KIOSK_API)
  if (!k) throw new Error('kiosk api not provided')
  return k
}

/** A 429's wait in seconds: its Retry-After, else read from its message ("…，请 N 秒后再试"). */
export function retryAfterOf(e: unknown): number | null {
  if (!(e instanceof ApiError) || e.status !== 429) return null
  if (e instanceof KioskError && e.retryAfter) return e.retryAfter
  const m = /(\d+)\s*秒/.exec(e.message) || /retry in (\d+)/i.exec(e.message)
  return m ? Number(m[1]) : null
}

/** The server's message in the kiosk's language (its messages are "中文 / English"). */
export function errorText(e: unknown, locale: string, unreachable: string): string {
  if (e instanceof ApiError) return e.code === 'network' ? unreachable : localMessage(e.message, locale)
  return String((e as Error)?.message || e)
}

// --- the live session, remembered across a reload or a power cut -----------------------------
const LIVE = 'shared-court-terminal-live'

export interface LiveSession {
  session_id: string
  join_token: string
  at: number
}

export function rememberLive(sessionId: string, token: string): void {
  localStorage.setItem(LIVE, JSON.stringify({ session_id: sessionId, join_token: token, at: Date.now() }))
}

export function forgetLive(): void {
  localStorage.removeItem(LIVE)
}

export function rememberedLive(): LiveSession | null {
  try {
    const v = JSON.parse(localStorage.getItem(LIVE) || 'null') as LiveSession | null
    return v && typeof v.session_id === 'string' && typeof v.join_token === 'string' ? v : null
  } catch {
    return null
  }
}

/** YYYY-MM-DD of the court's local day (lib/courtTime.ts), `days` after today. */
export function courtDay(days = 0, now = new Date(), zone: string = courtZone()): string {
  return courtDayAfter(days, now, zone)
}

/** How a calendar day (YYYY-MM-DD, a court day) is named on the day picker: its short weekday
 * and its month and day. A day is no instant: it is read as a date alone (in UTC, where it
 * starts at 00:00), so no zone can move it to the day before. */
export function dayName(day: string, locale: string): { weekday: string; monthDay: string } {
  const d = new Date(day + 'T00:00:00Z')
  if (Number.isNaN(d.getTime())) return { weekday: '', monthDay: day }
  return {
    weekday: d.toLocaleDateString(locale, { timeZone: 'UTC', weekday: 'short' }),
    monthDay: d.toLocaleDateString(locale, { timeZone: 'UTC', month: 'numeric', day: 'numeric' }),
  }
}

/** A phone as the server accepts it (schemas.py RequiredPhone): 5–32 of digits, + - and spaces. */
export function phoneOk(phone: string, required: boolean): boolean {
  const p = phone.trim()
  if (!p) return !required
  return /^[0-9+\- ]{5,32}$/.test(p)
}

/** Evidence files the server takes (files.py EVIDENCE_TYPES), ≤ 10 MiB each, ≤ 20 per intake. */
export const EVIDENCE_ACCEPT = 'image/jpeg,image/png,application/pdf,.jpg,.jpeg,.png,.pdf'
export const MAX_FILE_BYTES = 10 * 1024 * 1024
export const MAX_FILES = 20
