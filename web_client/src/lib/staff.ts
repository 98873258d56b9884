import { reactive } from 'vue'
import { ApiError, api, setCsrf } from './api'
import type { UserOut } from './types'
import { applyMe, type MeCourt } from './courtTime'

export const staff = reactive({ user: null as UserOut | null, checked: false })

/** Who may import history (server/court_network/routes/csv_import.py IMPORT_ROLES): the pages
 * offer the import page only to them. */
export const IMPORT_ROLES: readonly string[] = ['admin', 'clerk']
export const canImport = (): boolean => IMPORT_ROLES.includes(staff.user?.role ?? '')

/** Current staff user (refreshes the CSRF token), or null when not logged in. */
export async function loadMe(): Promise<UserOut | null> {
  try {
    const me = await api<{ user: UserOut; csrf_token: string } & MeCourt>('/api/auth/me')
    setCsrf(me.csrf_token)
    staff.user = me.user
    applyMe(me) // the court's zone: every time the page shows is in it
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) staff.user = null
    else throw e
  } finally {
    staff.checked = true
  }
  return staff.user
}

export async function login(username: string, password: string): Promise<UserOut> {
  const me = await api<{ user: UserOut; csrf_token: string } & MeCourt>('/api/auth/login', { method: 'POST', body: { username, password } })
  setCsrf(me.csrf_token)
  staff.user = me.user
  applyMe(me)
  return me.user
}

export async function logout(): Promise<void> {
  try {
    await api('/api/auth/logout', { method: 'POST' })
  } finally {
    staff.user = null
    setCsrf('')
  }
}
