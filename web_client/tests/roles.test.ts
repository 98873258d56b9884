import { describe, expect, it } from 'vitest'
import zh from '../src/locales/zh-CN.json'
import en from '../src/locales/en.json'
import { roleKey, roleName, type Translate } from '../src/lib/roles'

// The lookup the room components get from vue-i18n (te ? t : null), over the real messages.
function messages(m: unknown): Translate {
  return (key) => {
    const v = key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), m)
    return typeof v === 'string' ? v : null
  }
}
const EN = messages(en)
const ZH = messages(zh)
const CJK = /[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]/

// What the server sends (server/invites.py ROLE_LABELS_ZH, scheduling.py): kind + Chinese label.
const PARTICIPANTS = [
  { kind: 'mediator', role_label: '法官', en: 'Judge' },
  { kind: 'mediator', role_label: '调解员', en: 'Mediator' },
  { kind: 'clerk', role_label: '书记员', en: 'Clerk' },
  { kind: 'terminal', role_label: '庭务主任', en: 'Terminal operator' },
  { kind: 'party', role_label: '申请人', en: 'Applicant' },
  { kind: 'party', role_label: '被申请人', en: 'Respondent' },
  { kind: 'party', role_label: '代理人', en: 'Agent' },
  { kind: 'party', role_label: '律师', en: 'Lawyer' },
]

describe('role names in the room', () => {
  it('names every role the server sends in English, with no Chinese left', () => {
    for (const p of PARTICIPANTS) {
      const name = roleName(p, 'en', EN)
      expect(name, p.role_label).toBe(p.en)
      expect(name).not.toMatch(CJK)
    }
  })

  it("keeps the court's own wording in Chinese", () => {
    for (const p of PARTICIPANTS) expect(roleName(p, 'zh-CN', ZH)).toBe(p.role_label)
  })

  it('names a chat message, a caption or a signature by its label alone', () => {
    expect(roleName('申请人', 'en', EN)).toBe('Applicant')
    expect(roleName({ role: '被申请人' }, 'en', EN)).toBe('Respondent')
    expect(roleName({ role_label: ' 法官 ' }, 'en', EN)).toBe('Judge')
    // a caption that carries the key rather than the label
    expect(roleName({ role: 'lawyer' }, 'en', EN)).toBe('Lawyer')
    expect(roleName({ role: 'lawyer' }, 'zh-CN', ZH)).toBe('律师')
  })

  it("falls back to the kind, then to the server's label", () => {
    // a label of the court's own (第三人) for a party: English names the kind
    expect(roleName({ kind: 'party', role_label: '第三人' }, 'en', EN)).toBe('Party')
    expect(roleName({ kind: 'party', role_label: '第三人' }, 'zh-CN', ZH)).toBe('第三人')
    // neither label nor kind known: the label as given, never an empty tile
    expect(roleName({ kind: 'observer', role_label: '旁听人' }, 'en', EN)).toBe('旁听人')
    expect(roleName({ kind: 'clerk', role_label: '' }, 'zh-CN', ZH)).toBe('书记员')
    expect(roleName({ kind: 'clerk', role_label: '' }, 'en', EN)).toBe('Clerk')
    expect(roleName(null, 'en', EN)).toBe('')
    expect(roleName(undefined, 'zh-CN', ZH)).toBe('')
  })

  it('keeps roleKey for the pages outside the room', () => {
    expect(roleKey('庭务主任')).toBe('terminal')
    expect(roleKey('applicant')).toBe('applicant')
    expect(roleKey(null)).toBe('')
  })

  it('brackets a role in the language of the page', () => {
    expect(EN('roomRoles.withRole')).toBe('{name} ({role})')
    expect(ZH('roomRoles.withRole')).toBe('{name}（{role}）')
    expect(EN('roomRoles.listSep')).not.toMatch(CJK)
  })
})
