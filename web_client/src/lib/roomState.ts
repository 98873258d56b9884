// The reactive view of one room connection, and the reducers that apply server events to it.
// Pages and components read it as RoomClient.state; only the room client and its media side
// (roomMedia.ts) write it.
import { reactive } from 'vue'
import type { Quality } from './quality'
import type { Flow } from './mediaFlow'
import type { AgreementKind, AgreementView, Alert, Caption, ChatMessage, Presence, RoomParticipant, RoomState } from './types'

export type Phase =
  | 'idle'
  | 'connecting'
  | 'lobby'
  | 'room'
  | 'reconnecting'
  | 'ended'
  | 'dismissed'
  | 'error'

export interface NormalizedCaption {
  id: number
  segmentId?: string
  speaker: string
  role: string
  text: string
  final: boolean
}

export function normalizeCaption(c: Caption & Record<string, unknown>, names: (pid: string) => RoomParticipant | undefined): Omit<NormalizedCaption, 'id'> {
  const pid = (c.speaker_id || c.participant_id) as string | undefined
  const p = pid ? names(pid) : undefined
  const speaker = String(c.speaker || c.display_name || c.speaker_name || p?.display_name || '')
  const role = String(c.role || c.role_label || p?.role_label || '')
  const out: Omit<NormalizedCaption, 'id'> = { speaker, role, text: String(c.text || ''), final: c.final !== false }
  if (c.segment_id) out.segmentId = String(c.segment_id)
  return out
}

let captionSeq = 0
let alertSeq = 0

export interface IdentityCheckState {
  open: boolean
  by?: string
  role_label?: string
}

export type LostCause = 'network' | 'server'

export function createRoomState() {
  return reactive({
    phase: 'idle' as Phase,
    room: null as RoomState | null,
    remote: {} as Record<string, MediaStream>,
    remoteVersion: 0,
    activeSpeaker: null as string | null,
    chat: [] as ChatMessage[],
    captions: [] as NormalizedCaption[],
    quality: 'unknown' as Quality,
    /** Per publisher: when its video frames / audio samples last arrived (tiles say 无画面). */
    flow: {} as Record<string, Flow>,
    /** When the current peer connection's media started flowing (grace before 无画面). */
    mediaSince: 0,
    /** Bumped when a local track is swapped (device switch): the own tile re-attaches. */
    localVersion: 0,
    /** Why we are reconnecting: this device is offline, or the server went away. */
    lostCause: null as LostCause | null,
    mediaState: 'new' as string,
    error: null as { code: string; message: string } | null,
    ended: null as { outcome: string; note: string } | null,
    dismissed: null as { reason: 'denied' | 'removed' | 'replaced'; message: string } | null,
    notice: null as { key: string; at: number } | null,
    audioMuted: false,
    videoMuted: false,
    handRaised: false,
    attempts: 0,
    /** This client's own live captions (server default: on). */
    captionsEnabled: true,
    /** Identity check view opened by staff while this party waits in the lobby. */
    identityCheck: null as IdentityCheckState | null,
    agreements: {} as Partial<Record<AgreementKind, AgreementView>>,
    /** Recording / transcription alerts (mediator and clerk). */
    alerts: [] as Alert[],
  })
}

export type RoomClientState = ReturnType<typeof createRoomState>

// --- reading ------------------------------------------------------------------------------

export function participantOf(state: RoomClientState, pid: string): RoomParticipant | undefined {
  return state.room?.participants.find((p) => p.participant_id === pid)
}

/** Participants whose media this client may see: admitted (or reconnecting), same group, not me. */
export function visibleOthers(state: RoomClientState): RoomParticipant[] {
  const room = state.room
  const me = room?.you
  if (!room || !me) return []
  return room.participants.filter(
    (p) => p.participant_id !== me.participant_id && (p.presence === 'admitted' || p.presence === 'reconnecting') && p.group === me.group,
  )
}

// --- the connection's phases ----------------------------------------------------------------

/** The join was acknowledged: whatever went wrong before is over. */
export function joined(state: RoomClientState): void {
  state.lostCause = null
  state.error = null
  state.attempts = 0
}

/** A connection attempt failed without a refusal (socket.io, or we, try again). */
export function connectFailed(state: RoomClientState, everJoined: boolean, message: string, cause: LostCause): void {
  state.attempts += 1
  if (everJoined) {
    state.phase = 'reconnecting'
    state.lostCause = cause
  } else state.error = { code: 'unreachable', message }
}

/** The socket dropped; false when the room is over anyway (nothing to reconnect). */
export function connectionLost(state: RoomClientState, cause: LostCause | null): boolean {
  if (['ended', 'dismissed', 'error'].includes(state.phase)) return false
  state.lostCause = cause
  if (state.phase === 'room' || state.phase === 'reconnecting') state.phase = 'reconnecting'
  else if (state.phase === 'lobby') state.phase = 'connecting'
  return true
}

export function wentOffline(state: RoomClientState): void {
  state.lostCause = 'network'
  if (state.phase === 'room') state.phase = 'reconnecting'
}

export function failed(state: RoomClientState, error: { code: string; message: string }): void {
  state.error = error
  state.phase = 'error'
}

export function dismissed(state: RoomClientState, reason: 'denied' | 'removed' | 'replaced', message: string): void {
  state.dismissed = { reason, message: message || '' }
  state.phase = 'dismissed'
}

export function sessionEnded(state: RoomClientState, d: { outcome: string; note: string }): void {
  state.ended = { outcome: d?.outcome || '', note: d?.note || '' }
  state.phase = 'ended'
}

export function returnedToLobby(state: RoomClientState): void {
  state.phase = 'lobby'
  state.notice = { key: 'room.returnedToLobby', at: Date.now() }
}

export function notice(state: RoomClientState, key: string): void {
  state.notice = { key, at: Date.now() }
}

// --- server events ------------------------------------------------------------------------

/**
 * Take a room_state: the room, and our own flags from it. Says how our presence changed and
 * whether the server muted us (the local tracks follow).
 */
export function applyRoomState(state: RoomClientState, s: RoomState): { before?: Presence; now?: Presence; muted: boolean } {
  const before = state.room?.you?.presence
  state.room = s
  let muted = false
  if (s.you) {
    state.handRaised = s.you.hand_raised
    // The server's mute flags are authoritative (the mediator may mute us).
    if (s.you.audio_muted && !state.audioMuted) {
      state.audioMuted = true
      muted = true
    }
    if (s.you.video_muted && !state.videoMuted) {
      state.videoMuted = true
      muted = true
    }
  }
  return { before, now: s.you?.presence, muted }
}

/** Drop streams of people no longer visible (left, other caucus group). */
export function dropHiddenRemotes(state: RoomClientState): void {
  const visible = new Set(visibleOthers(state).map((p) => p.participant_id))
  for (const pid of Object.keys(state.remote)) {
    if (!visible.has(pid) && !participantOf(state, pid)) {
      delete state.remote[pid]
      state.remoteVersion++
    }
  }
}

/** The mediator muted us (the caller mutes the local track too). */
export function mutedByMediator(state: RoomClientState, d: { kind: 'audio' | 'video'; muted: boolean }): void {
  setLocalMuted(state, d.kind, d.muted)
  notice(state, d.kind === 'audio' ? 'room.mutedByMediatorAudio' : 'room.mutedByMediatorVideo')
}

export function setLocalMuted(state: RoomClientState, kind: 'audio' | 'video', muted: boolean): void {
  if (kind === 'audio') state.audioMuted = muted
  else state.videoMuted = muted
}

export function pushChat(state: RoomClientState, m: ChatMessage): void {
  state.chat.push(m)
  if (state.chat.length > 300) state.chat.splice(0, state.chat.length - 300)
}

/** A caption; an interim one of the same speaker replaces the line it continues. */
export function pushCaption(state: RoomClientState, c: Caption & Record<string, unknown>): void {
  const n = normalizeCaption(c, (pid) => participantOf(state, pid))
  const list = state.captions
  const last = list[list.length - 1]
  if (last && !last.final && last.speaker === n.speaker) list[list.length - 1] = { ...n, id: last.id }
  else list.push({ ...n, id: ++captionSeq })
  if (list.length > 100) list.splice(0, list.length - 100)
}

export function pushAlert(state: RoomClientState, kind: 'recording' | 'transcript' | 'room', d: { reason?: string; message?: string }): void {
  state.alerts.push({ id: ++alertSeq, kind, reason: d?.reason || '', message: d?.message || '', at: Date.now() })
  if (state.alerts.length > 20) state.alerts.splice(0, state.alerts.length - 20)
}

export function dismissAlert(state: RoomClientState, id: number): void {
  const i = state.alerts.findIndex((a) => a.id === id)
  if (i >= 0) state.alerts.splice(i, 1)
}

export function setIdentityCheck(state: RoomClientState, d: IdentityCheckState): void {
  state.identityCheck = d?.open ? { open: true, by: d.by, role_label: d.role_label } : null
}

export function setAgreement(state: RoomClientState, a: AgreementView | null | undefined): void {
  if (a?.kind) state.agreements[a.kind] = a
}
