import { describe, expect, it } from 'vitest'
import {
  applyRoomState,
  connectionLost,
  createRoomState,
  dismissAlert,
  dropHiddenRemotes,
  pushAlert,
  pushCaption,
  pushChat,
} from '../src/lib/roomState'
import type { ChatMessage, RoomParticipant, RoomState } from '../src/lib/types'

function person(pid: string, over: Partial<RoomParticipant> = {}): RoomParticipant {
  return {
    participant_id: pid,
    kind: 'party',
    display_name: pid,
    role_label: '申请人',
    presence: 'admitted',
    group: 'main',
    consented: true,
    audio_muted: false,
    video_muted: false,
    hand_raised: false,
    ...over,
  }
}

function room(you: RoomParticipant, others: RoomParticipant[]): RoomState {
  return {
    session_id: 's',
    case_number: 'c',
    started: true,
    ended: false,
    recording: false,
    transcription: false,
    in_caucus: false,
    groups: [],
    participants: [you, ...others],
    you,
  }
}

describe('room state reducers', () => {
  it('keeps the last 300 chat messages', () => {
    const state = createRoomState()
    for (let i = 0; i < 305; i++) pushChat(state, { text: String(i) } as ChatMessage)
    expect(state.chat).toHaveLength(300)
    expect(state.chat[0].text).toBe('5')
  })

  it('replaces an interim caption of the same speaker, appends a final one after it', () => {
    const state = createRoomState()
    pushCaption(state, { speaker: '张三', text: '你', final: false })
    pushCaption(state, { speaker: '张三', text: '你好', final: true })
    pushCaption(state, { speaker: '张三', text: '再见' })
    expect(state.captions.map((c) => c.text)).toEqual(['你好', '再见'])
    expect(state.captions[0].id).not.toBe(state.captions[1].id)
  })

  it('keeps 20 alerts and dismisses by id', () => {
    const state = createRoomState()
    for (let i = 0; i < 22; i++) pushAlert(state, 'recording', { reason: String(i) })
    expect(state.alerts).toHaveLength(20)
    dismissAlert(state, state.alerts[0].id)
    expect(state.alerts[0].reason).toBe('3')
  })

  it('takes the server mute flags and reports the presence change', () => {
    const state = createRoomState()
    const me = person('me', { presence: 'lobby' })
    expect(applyRoomState(state, room(me, []))).toEqual({ before: undefined, now: 'lobby', muted: false })
    const admitted = person('me', { audio_muted: true, hand_raised: true })
    expect(applyRoomState(state, room(admitted, []))).toEqual({ before: 'lobby', now: 'admitted', muted: true })
    expect(state.audioMuted).toBe(true)
    expect(state.videoMuted).toBe(false)
    expect(state.handRaised).toBe(true)
  })

  it('drops the streams of people who left the room', () => {
    const state = createRoomState()
    applyRoomState(state, room(person('me'), [person('a'), person('b', { group: 'g1' })]))
    state.remote = { a: {} as MediaStream, b: {} as MediaStream, gone: {} as MediaStream }
    dropHiddenRemotes(state)
    expect(Object.keys(state.remote).sort()).toEqual(['a', 'b'])
  })

  it('turns a lost socket into reconnecting, unless the room is over', () => {
    const state = createRoomState()
    state.phase = 'room'
    expect(connectionLost(state, 'server')).toBe(true)
    expect(state.phase).toBe('reconnecting')
    expect(state.lostCause).toBe('server')
    state.phase = 'ended'
    expect(connectionLost(state, 'network')).toBe(false)
    expect(state.lostCause).toBe('server')
  })
})
