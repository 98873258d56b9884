// JSON API client. Errors are {"error": {"code", "message"}}; messages are "中文 / English".
import { courtDate as courtDateIn, courtZone, formatCourtTime } from './courtTime'

/** Whom to call about a refused join link (the error body's `contact`). */
export interface ErrorContact {
  name: string
  phone: string
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public contact: ErrorContact | null = null,
  ) {
    super(message)
  }
}

/** Link errors that mean "ask the clerk for a new link". */
export const DEAD_LINK_CODES = new Set([
  'link_expired',
  'link_revoked',
  'link_invalid',
  'session_closed',
  'invalid_token',
])

const store = typeof sessionStorage !== 'undefined' ? sessionStorage : null
let csrfToken = store?.getItem('csrf_token') || ''

export function setCsrf(token: string): void {
  csrfToken = token
  store?.setItem('csrf_token', token)
}

export function getCsrf(): string {
  return csrfToken
}

/** Pick the part of a "中文 / English" message that fits the UI language. */
export function localMessage(message: string, locale: string): string {
  const i = message.indexOf(' / ')
  if (i < 0) return message
  return locale.startsWith('zh') ? message.slice(0, i) : message.slice(i + 3)
}

export interface RequestOptions {
  method?: string
  body?: unknown
  bearer?: string
  query?: Record<string, string | number | undefined>
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = (opts.method || 'GET').toUpperCase()
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken
  if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`
  let url = path
  if (opts.query) {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined && v !== '') q.set(k, String(v))
    const s = q.toString()
    if (s) url += `?${s}`
  }
  let res: Response
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器 / cannot reach the server')
  }
  if (res.status === 204) return undefined as T
  let data: unknown = null
  const text = await res.text()
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; contact?: ErrorContact | null } } | null)?.error
    if (err?.code) throw new ApiError(res.status, err.code, err.message || err.code, err.contact ?? null)
    if (res.status >= 500) throw new ApiError(res.status, 'server_unavailable', `服务器暂时不可用 / server unavailable (${res.status})`)
    throw new ApiError(res.status, 'http_' + res.status, `请求失败 / request failed (${res.status})`)
  }
  return data as T
}

// Times are the court's (lib/courtTime.ts: its zone from the server, whatever the PC's clock
// zone); these two names stay for the pages that import them from here.

/** The court's calendar day (YYYY-MM-DD) at an instant, in the court's zone. */
export function courtDate(d: Date = new Date(), zone: string = courtZone()): string {
  return courtDateIn(d, zone)
}

/** "12/03 10:30": a session's or a link's time, in the court's zone. */
export function formatTime(iso: string, locale: string, zone: string = courtZone()): string {
  return formatCourtTime(iso, locale, zone)
}

/** A multipart POST (a file upload) with the session's CSRF token: the response and its JSON
 * body (null when it has none). Only a network failure throws (ApiError code `network`); the
 * caller reads an error answer, whose body may carry more than api() keeps. */
export async function postForm(path: string, form: FormData): Promise<{ res: Response; data: any }> {
  let res: Response
  try {
    res = await fetch(path, {
      method: 'POST',
      body: form,
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-CSRF-Token': getCsrf() },
    })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器 / cannot reach the server')
  }
  return { res, data: await res.json().catch(() => null) }
}

/** A POST/GET that answers a file (e.g. the exported record): returns the blob and its name. */
export async function apiFile(path: string, opts: RequestOptions = {}): Promise<{ blob: Blob; filename: string; headers: Headers }> {
  const method = (opts.method || 'GET').toUpperCase()
  const headers: Record<string, string> = {}
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken
  let res: Response
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined })
  } catch {
    throw new ApiError(0, 'network', '无法连接服务器 / cannot reach the server')
  }
  if (!res.ok) {
    let err: { code?: string; message?: string } | undefined
    try {
      err = (await res.json())?.error
    } catch {
      err = undefined
    }
    throw new ApiError(res.status, err?.code || 'http_' + res.status, err?.message || `请求失败 / request failed (${res.status})`)
  }
  const cd = res.headers.get('Content-Disposition') || ''
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd)
  const plain = /filename="?([^";]+)"?/i.exec(cd)
  const filename = star ? decodeURIComponent(star[1]) : plain ? plain[1] : 'download'
  return { blob: await res.blob(), filename, headers: res.headers }
}

/** Save a blob through a temporary link. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** Open a (signed) download URL without leaving the page. */
export function openDownload(url: string): void {
  const a = document.createElement('a')
  a.href = url
  a.rel = 'noopener'
  document.body.appendChild(a)
  a.click()
  a.remove()
}
