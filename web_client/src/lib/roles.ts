// Role names in the page's language.
//
// The server names each participant's role in Chinese (role_label: 申请人, 法官, 庭务主任 …), as
// the court writes it on its documents. A page in English names the role from its key instead:
// the label's key (申请人 → applicant; 法官 and 调解员 are both of kind mediator), else the
// participant's kind. A label the client does not know (a court's own wording) is shown as the
// server gave it rather than replaced by something vaguer.
import { useI18n } from 'vue-i18n'

export const ROLE_KEYS: Record<string, string> = {
  调解员: 'mediator',
  书记员: 'clerk',
  庭务主任: 'terminal',
  当事人: 'party',
  申请人: 'applicant',
  被申请人: 'respondent',
  代理人: 'agent',
  律师: 'lawyer',
  法官: 'judge',
  管理员: 'admin',
}

/** The key of a role label (申请人 → applicant); the label itself when it is already a key or
 * unknown. */
export function roleKey(label: string | null | undefined): string {
  const l = (label || '').trim()
  return ROLE_KEYS[l] || l
}

/** What names a role: a participant (kind + role_label), a signature or caption (role), or a
 * bare label. */
export type RoleBearer = string | null | undefined | { kind?: string | null; role?: string | null; role_label?: string | null }

/** A message lookup: the text of a key in the page's language, or null when it has none. */
export type Translate = (key: string) => string | null

export const ROLE_MESSAGES = 'clerk2.roles.'

/** The role in the page's language. Chinese: the court's own label (its kind's name when the
 * server gave none); other languages: the translation of the label's key, else of the kind,
 * else the label as given. */
export function roleName(who: RoleBearer, locale: string, tr: Translate): string {
  const o = typeof who === 'object' && who ? who : { role_label: who as string | null | undefined }
  const label = (o.role_label || o.role || '').trim()
  const kind = (o.kind || '').trim()
  const fromKey = (k: string) => (k ? tr(ROLE_MESSAGES + k) : null)
  // Chinese: the court's own wording, unless the server sent a key (applicant) instead.
  if (locale.startsWith('zh')) return (ROLE_KEYS[label] ? label : fromKey(label)) || label || fromKey(kind) || kind
  return fromKey(roleKey(label)) || fromKey(roleKey(o.role)) || fromKey(kind) || label || kind
}

/** For a component: `role(p)` names p's role in the current language; `withRole(name, p)` is
 * "张三（申请人）" / "Zhang San (Applicant)"; `paren(p)` is the bracketed role alone. */
export function useRoleName() {
  const { t, te, locale } = useI18n()
  const tr: Translate = (key) => (te(key) ? t(key) : null)
  const role = (who: RoleBearer) => roleName(who, locale.value, tr)
  const paren = (who: RoleBearer) => {
    const r = role(who)
    return r ? t('roomRoles.paren', { role: r }) : ''
  }
  const withRole = (name: string, who: RoleBearer) => {
    const r = role(who)
    return r ? t('roomRoles.withRole', { name, role: r }) : name
  }
  const listSep = () => t('roomRoles.listSep')
  return { role, paren, withRole, listSep }
}
