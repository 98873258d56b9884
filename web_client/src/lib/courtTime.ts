// Times in the court's time zone, whatever the zone of the PC or phone showing them.
//
// A clerk's PC set to UTC typed 10:30 into <input type="datetime-local">; `new Date('…T10:30')`
// read it as 10:30 UTC and the session was listed at 18:30 Shanghai time. Every time a page
// enters or shows goes through here with the court's IANA zone: Intl.DateTimeFormat with
// `timeZone` does the conversion, so the browser's own zone never enters. The zone is the
// court's as the server states it: GET /api/auth/me → court.timezone for staff (`applyMe`, which
// loadMe in staff.ts calls with the same answer), JoinSessionOut.timezone for a party or a
// terminal in a session (`setCourtZone`). Until one of them arrives it is Asia/Shanghai, the
// courts' zone by default. A helper called without a zone uses this one.

import { reactive } from 'vue'
import { api } from './api'

export const DEFAULT_ZONE = 'Asia/Shanghai'

/** The staff member's court, as GET /api/auth/me states it (loaded by `loadCourt`). */
export const court = reactive({ id: '', name: '', timezone: DEFAULT_ZONE, phone: '', publicUrl: '', loaded: false })

export interface MeCourt {
  court?: { id: string; name: string; timezone: string; phone: string } | null
  public_url?: string | null
}

/** Whether the browser knows `zone` as an IANA name (an unknown one would make every
 * formatter throw). */
export function knownZone(zone: string | null | undefined): zone is string {
  if (!zone) return false
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** The zone of the page's times: the court's, once a server answer named it. */
export function courtZone(): string {
  return court.timezone || DEFAULT_ZONE
}

/** The court's zone from a session's join info (JoinSessionOut.timezone): a party's and a
 * terminal's pages, which have no staff login to ask. */
export function setCourtZone(zone: string | null | undefined): void {
  if (knownZone(zone)) court.timezone = zone
}

/** Take the court from an answer of GET /api/auth/me (or of the login, which answers the same). */
export function applyMe(me: MeCourt | null | undefined): void {
  if (!me) return
  if (me.court) {
    court.id = me.court.id
    court.name = me.court.name
    court.timezone = knownZone(me.court.timezone) ? me.court.timezone : DEFAULT_ZONE
    court.phone = me.court.phone || ''
  }
  court.publicUrl = me.public_url || ''
  court.loaded = true
}

let pending: Promise<void> | null = null

/** Load the caller's court (zone, name, phone) once; pages await it before showing times. */
export function loadCourt(force = false): Promise<void> {
  if (pending && !force) return pending
  pending = api<MeCourt>('/api/auth/me')
    .then(applyMe)
    .catch(() => {
      pending = null // not logged in (or offline): try again next time; the default zone stays
    })
  return pending
}

export interface WallClock {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

const partsFormatters = new Map<string, Intl.DateTimeFormat>()

function partsFormatter(zone: string): Intl.DateTimeFormat {
  let f = partsFormatters.get(zone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    partsFormatters.set(zone, f)
  }
  return f
}

function toDate(at: string | number | Date): Date {
  return at instanceof Date ? at : new Date(at)
}

/** The wall-clock reading in `zone` at an instant. */
export function wallClock(at: string | number | Date, zone: string = courtZone()): WallClock {
  const out: Record<string, number> = {}
  for (const p of partsFormatter(zone).formatToParts(toDate(at))) if (p.type !== 'literal') out[p.type] = Number(p.value)
  return { year: out.year, month: out.month, day: out.day, hour: out.hour % 24, minute: out.minute, second: out.second }
}

/** Minutes `zone` is ahead of UTC at an instant (Shanghai: 480; New York in winter: -300). */
export function zoneOffsetMinutes(at: string | number | Date, zone: string = courtZone()): number {
  const d = toDate(at)
  const w = wallClock(d, zone)
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second)
  return Math.round((asUtc - (Math.floor(d.getTime() / 1000) * 1000)) / 60000)
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

/** The court's calendar day (YYYY-MM-DD) at an instant. */
export function courtDate(at: string | number | Date = new Date(), zone: string = courtZone()): string {
  const w = wallClock(at, zone)
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`
}

/** The value for an <input type="datetime-local"> showing an instant as the court's wall time. */
export function toCourtInput(at: string | number | Date, zone: string = courtZone()): string {
  const w = wallClock(at, zone)
  return `${courtDate(at, zone)}T${pad(w.hour)}:${pad(w.minute)}`
}

/** "2026-12-03 10:30" (with `seconds`, "2026-12-03 10:30:05"): a time in tables and logs,
 * the same in every language; the value itself for one that is not a time. */
export function courtStamp(at: string | number | Date, zone: string = courtZone(), seconds = false): string {
  const d = toDate(at)
  if (Number.isNaN(d.getTime())) return String(at)
  const w = wallClock(d, zone)
  return `${courtDate(d, zone)} ${pad(w.hour)}:${pad(w.minute)}${seconds ? ':' + pad(w.second) : ''}`
}

/** The court's calendar day `days` after the one at `at` ("tomorrow" on a kiosk), counted in
 * calendar days, not 24-hour steps. */
export function courtDayAfter(days: number, at: string | number | Date = new Date(), zone: string = courtZone()): string {
  const w = wallClock(at, zone)
  return new Date(Date.UTC(w.year, w.month - 1, w.day + days)).toISOString().slice(0, 10)
}

const INPUT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/

/**
 * The instant a wall time typed as the court's time means ('2026-12-03T10:30' in Asia/Shanghai
 * is 02:30Z), whatever the browser's zone; null for a value that is not a date and time. A time
 * that a DST change skips is read with the offset in force before the change.
 */
export function parseCourtInput(value: string, zone: string = courtZone()): Date | null {
  const m = INPUT.exec(value.trim())
  if (!m) return null
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] || '0', m[5] || '0', m[6] || '0'].map(Number)
  const wall = Date.UTC(y, mo - 1, d, h, mi, s)
  if (Number.isNaN(wall)) return null
  // Two rounds: the offset at the first guess may differ (a DST boundary) from the offset at the
  // instant itself.
  let guess = wall - zoneOffsetMinutes(wall, zone) * 60000
  guess = wall - zoneOffsetMinutes(guess, zone) * 60000
  return new Date(guess)
}

function safe(fn: () => string, fallback: string): string {
  try {
    return fn()
  } catch {
    return fallback
  }
}

/** "12/03 10:30" (zh-CN: "12/03 10:30"): lists of sessions and links. */
export function formatCourtTime(iso: string | Date, locale: string, zone: string = courtZone()): string {
  return safe(
    () =>
      toDate(iso).toLocaleString(locale, {
        timeZone: zone,
        hourCycle: 'h23',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
      }),
    String(iso),
  )
}

/** "2026年12月3日星期四 10:30" / "Thursday, December 3, 2026 at 10:30": an invitation's time. */
export function formatCourtDateTime(iso: string | Date, locale: string, zone: string = courtZone()): string {
  return safe(
    () =>
      toDate(iso).toLocaleString(locale, {
        timeZone: zone,
        hourCycle: 'h23',
        weekday: 'long',
        year: 'numeric',
        month: 'long',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
      }),
    String(iso),
  )
}

/** "2026/12/03" : a day of a list (records). */
export function formatCourtDay(iso: string | Date, locale: string, zone: string = courtZone()): string {
  return safe(() => toDate(iso).toLocaleDateString(locale, { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }), String(iso))
}

/** "10:31:05": a moment of a recording or transcript. */
export function formatCourtClock(iso: string | Date, locale: string, zone: string = courtZone()): string {
  return safe(
    () => toDate(iso).toLocaleTimeString(locale, { timeZone: zone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' }),
    String(iso),
  )
}

/** How a page names the zone its times are in: "北京时间" for Asia/Shanghai in Chinese, else
 * the zone and its offset ("Asia/Shanghai, UTC+8"). */
export function zoneLabel(zone: string, locale: string, at: string | number | Date = new Date()): string {
  if (zone === 'Asia/Shanghai' && locale.startsWith('zh')) return '北京时间'
  const off = zoneOffsetMinutes(at, zone)
  const sign = off < 0 ? '−' : '+'
  const a = Math.abs(off)
  const hm = a % 60 ? `${Math.floor(a / 60)}:${pad(a % 60)}` : String(a / 60)
  return `${zone}, UTC${sign}${hm}`
}

// Role names moved to roles.ts (one place for every page); kept importable from here.
export { ROLE_KEYS, roleKey } from './roles'

// ─── A recording's timeline: when who was in a caucus (背靠背) ─────────────────────────────────
// The sealed manifest.json logs each caucus change with the court's clock (`caucus_changes`:
// {time, payload: {group, members}}; recording/session.py log_caucus_change). A caucus opened:
// group null with the grouped members; closed: group null, no members; one participant moved:
// group = the group's id, or 'main' back to the main room.
export interface CaucusChange {
  time?: string
  payload?: { group?: string | null; members?: string[] }
}

/** Per participant: the [start, end) seconds from `originMs` they spent in a caucus group; a
 * caucus still open at the end lasts until `endS`. */
export function caucusPeriods(changes: CaucusChange[], originMs: number, endS: number): Record<string, [number, number][]> {
  const since = new Map<string, number>()
  const out: Record<string, [number, number][]> = {}
  const leave = (pid: string, at: number) => {
    const from = since.get(pid)
    if (from === undefined) return
    ;(out[pid] ||= []).push([from, at])
    since.delete(pid)
  }
  const timed = changes.filter((c) => c.time && !Number.isNaN(Date.parse(c.time)))
  timed.sort((a, b) => Date.parse(a.time!) - Date.parse(b.time!))
  for (const c of timed) {
    const at = (Date.parse(c.time!) - originMs) / 1000
    const group = c.payload?.group ?? null
    const members = c.payload?.members || []
    if (group === null && !members.length) {
      for (const pid of [...since.keys()]) leave(pid, at) // closed: everyone back
    } else if (group === null) {
      // opened: exactly these participants are in groups now
      for (const pid of [...since.keys()]) if (!members.includes(pid)) leave(pid, at)
      for (const pid of members) if (!since.has(pid)) since.set(pid, at)
    } else if (group === 'main') {
      for (const pid of members) leave(pid, at) // moved back to the main room
    } else {
      for (const pid of members) if (!since.has(pid)) since.set(pid, at) // moved into a group
    }
  }
  for (const pid of [...since.keys()]) leave(pid, endS)
  return out
}

/** Whether `at` (seconds) falls in one of the spans. */
export function inSpans(spans: [number, number][] | undefined, at: number): boolean {
  return (spans || []).some(([a, b]) => at >= a && at < b)
}
