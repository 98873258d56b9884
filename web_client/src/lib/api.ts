// JSON API client. Errors are {"error": {"code", "message"}}; messages are "中文 / English".

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

/** Local calendar date (YYYY-MM-DD) in China Standard Time, the court's day. */
export function courtDate(d = new Date()): string {
  const cst = new Date(d.getTime() + 8 * 3600 * 1000)
  return cst.toISOString().slice(0, 10)
}

/** Time of day with seconds, in the courts' time zone (a gap in a recording: 10:31:05). */
export function formatClock(iso: string, locale: string): string {
  try {
    return new Date(iso).toLocaleTimeString(locale, { timeZone: 'Asia/Shanghai', hour12: false })
  } catch {
    return iso
  }
}

/** "服务器中断 10:31:05–10:31:40" for a recording segment that resumed after an outage. */
export function gapText(r: { gap_start?: string | null; gap_end?: string | null }, locale: string, label: string): string {
  if (!r.gap_start || !r.gap_end) return ''
  return `${label} ${formatClock(r.gap_start, locale)}–${formatClock(r.gap_end, locale)}`
}

export function formatTime(iso: string, locale: string): string {
  try {
    return new Date(iso).toLocaleString(locale, {
      timeZone: 'Asia/Shanghai',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
  } catch {
    return iso
  }
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
