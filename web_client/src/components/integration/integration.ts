// Shared pieces of the integration page (/clerk/integration): the API shapes of the court's API
// keys and webhooks (aliased from the generated src/lib/api-types.ts), the scopes and events the
// server accepts (ApiKeyIn / WebhookIn in docs/openapi.json), and small helpers.

import type { components } from '../../lib/api-types'
import type { ApiResponse } from '../../lib/types'
import { ApiError, localMessage } from '../../lib/api'
import { courtStamp, courtZone } from '../../lib/courtTime'

type Schemas = components['schemas']
export type ApiKeyOut = Schemas['ApiKeyOut']
export type ApiKeyIn = Schemas['ApiKeyIn']
export type ApiKeyCreatedOut = ApiResponse<'/api/network/api-keys', 'post'>
export type WebhookOut = Schemas['WebhookOut']
export type WebhookIn = Schemas['WebhookIn']
export type WebhookCreatedOut = ApiResponse<'/api/network/webhooks', 'post'>
export type WebhookAlertOut = Schemas['WebhookAlertOut']
export type DeliveryOut = Schemas['DeliveryOut']
export type Scope = ApiKeyIn['scopes'][number]
export type WebhookEvent = WebhookIn['events'][number]

export const SCOPES: Scope[] = ['intakes:read', 'intakes:write', 'stats:read', 'mediators:read', 'import:write']
export const EVENTS: WebhookEvent[] = [
  'intake.received',
  'intake.assigned',
  'intake.unassignable',
  'intake.withdrawn',
  'session.scheduled',
  'session.cancelled',
  'session.ended',
]

/** The message key of a scope or event: vue-i18n reads "." (and ":") in a key as a path. */
export function labelKey(name: string): string {
  return name.replace(/[.:]/g, '_')
}

/** What a delivery row shows: a pending delivery that already failed an attempt is retrying. */
export type DeliveryState = 'pending' | 'retrying' | 'delivered' | 'failed'

export function deliveryState(d: Pick<DeliveryOut, 'status' | 'attempts'>): DeliveryState {
  if (d.status === 'delivered') return 'delivered'
  if (d.status === 'failed') return 'failed'
  return d.attempts > 0 ? 'retrying' : 'pending'
}

/** A delivery may be sent again once it has failed: given up, or waiting for its next retry
 * (the receiver was fixed: no need to wait out the backoff). Only for an active webhook. */
export function canReplay(d: Pick<DeliveryOut, 'status' | 'attempts'>, hookActive: boolean): boolean {
  const s = deliveryState(d)
  return hookActive && (s === 'failed' || s === 'retrying')
}

/** A webhook's health word: failing, healthy (a success, no failures since), or not yet sent. */
export function webhookHealth(w: Pick<WebhookOut, 'failing' | 'consecutive_failures' | 'last_success_at'>): 'failing' | 'healthy' | 'untested' | 'retrying' {
  if (w.failing) return 'failing'
  if (w.consecutive_failures > 0) return 'retrying'
  return w.last_success_at ? 'healthy' : 'untested'
}

/** A server error in the UI language; `detail` is the other half of a "中文 / English" message
 * when it says more (a refused target: which address and why). */
export function errorParts(e: unknown, locale: string, unreachable: string): { code: string; text: string; detail: string } {
  if (!(e instanceof ApiError)) return { code: '', text: String(e), detail: '' }
  if (e.code === 'network') return { code: e.code, text: unreachable, detail: '' }
  const text = localMessage(e.message, locale)
  const i = e.message.indexOf(' / ')
  const detail = locale.startsWith('zh') && i >= 0 ? e.message.slice(i + 3) : ''
  return { code: e.code, text, detail }
}

/** Date and time (seconds) in the court's zone (lib/courtTime.ts): 2026-12-02 14:05:09; '' for
 * none. */
export function courtTime(iso: string | null | undefined, zone: string = courtZone()): string {
  return iso ? courtStamp(iso, zone, true) : ''
}

/** Copy text to the clipboard; false when the browser refuses (the text stays selectable). */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    return false
  }
}
