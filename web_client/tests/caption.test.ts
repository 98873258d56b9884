import { describe, expect, it } from 'vitest'
import { normalizeCaption } from '../src/lib/roomClient'

describe('caption events', () => {
  it('accepts speaker name and role as sent', () => {
    expect(normalizeCaption({ speaker: '张三', role: '申请人', text: '你好', final: false }, () => undefined)).toEqual({
      speaker: '张三',
      role: '申请人',
      text: '你好',
      final: false,
    })
  })
  it('fills the name from room state when only the speaker id is sent', () => {
    const p = { participant_id: 'p1', display_name: '王法官', role_label: '调解员' } as never
    expect(normalizeCaption({ speaker_id: 'p1', text: '开始' }, () => p)).toMatchObject({ speaker: '王法官', role: '调解员', final: true })
  })
})
