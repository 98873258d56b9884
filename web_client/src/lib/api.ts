// JSON API client. Errors are {"error": {"code", "message"}}; messages are "中文 / English".

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
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
    const err = (data as { error?: { code?: string; message?: string } } | null)?.error
    if (err?.code) throw new ApiError(res.status, err.code, err.message || err.code)
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
