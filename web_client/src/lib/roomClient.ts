// One participant's live connection: socket.io signaling + one RTCPeerConnection to the server.
// This facade wires the server's events (signaling.ts) to the room view's reducers
// (roomState.ts) and to the peer connection (roomMedia.ts); pages and components use only it.
import type { Negotiator } from './negotiation'
import type { Received } from './mediaFlow'
import { RoomMedia } from './roomMedia'
import { Signaling, isRefusal, lossCause, type AckResult, type ConnectError, type RoomSocket } from './signaling'
import {
  applyRoomState,
  connectFailed,
  connectionLost,
  createRoomState,
  dismissAlert,
  dismissed,
  dropHiddenRemotes,
  failed,
  joined,
  mutedByMediator,
  notice,
  participantOf,
  pushAlert,
  pushCaption,
  pushChat,
  returnedToLobby,
  sessionEnded,
  setAgreement,
  setIdentityCheck,
  setLocalMuted,
  visibleOthers,
  wentOffline,
  type IdentityCheckState,
} from './roomState'
import type { AgreementKind, AgreementView, IceServer, RoomParticipant, RoomState } from './types'

export type { AckResult } from './signaling'
export { normalizeCaption, type IdentityCheckState, type NormalizedCaption, type Phase } from './roomState'

export interface RoomClientOptions {
  /** Join-link token, or null for a staff connection (cookie + sessionId). */
  token?: string | null
  sessionId?: string | null
  iceServers?: IceServer[]
  consent: boolean
  localStream: MediaStream | null
  /** Initial mute choices from the preview. */
  audioMuted?: boolean
  videoMuted?: boolean
  url?: string
  path?: string
}

export class RoomClient {
  state = createRoomState()
  private everJoined = false
  private signaling = new Signaling({
    connect: () => void this.onConnect(),
    connectError: (err) => this.onConnectError(err),
    disconnect: (reason) => this.onDisconnect(reason),
    online: () => this.onOnline(),
    offline: () => wentOffline(this.state),
  })
  private media: RoomMedia

  constructor(public opts: RoomClientOptions) {
    this.media = new RoomMedia(this)
    this.state.audioMuted = !!opts.audioMuted || !opts.localStream?.getAudioTracks().length
    this.state.videoMuted = !!opts.videoMuted || !opts.localStream?.getVideoTracks().length
    this.media.applyLocalMute()
  }

  get socket(): RoomSocket | null {
    return this.signaling.socket
  }

  get pc(): RTCPeerConnection | null {
    return this.media.pc
  }

  get negotiator(): Negotiator | null {
    return this.media.negotiator
  }

  /** How many peer connections this client has started (diagnostics). */
  get mediaStarts(): number {
    return this.media.mediaStarts
  }

  get me(): RoomParticipant | null {
    return this.state.room?.you || null
  }

  get isMediator(): boolean {
    return this.me?.kind === 'mediator'
  }

  /** Raw events for pages that need more than the room view (clerk's live transcript). */
  on(event: string, fn: (payload: unknown) => void): () => void {
    return this.signaling.on(event, fn)
  }

  participant(pid: string): RoomParticipant | undefined {
    return participantOf(this.state, pid)
  }

  /** Participants whose media this client may see: admitted (or reconnecting), same group, not me. */
  visibleOthers(): RoomParticipant[] {
    return visibleOthers(this.state)
  }

  connect(): void {
    this.state.phase = 'connecting'
    const state = this.state
    this.signaling.open(this.opts, {
      room_state: (s) => this.onRoomState(s),
      admitted: () => this.onAdmitted(),
      denied: (d) => this.dismiss('denied', d?.message),
      removed: (d) => this.dismiss('removed', d?.message),
      replaced: (d) => this.dismiss('replaced', d?.message),
      returned_to_lobby: () => this.onReturnedToLobby(),
      offer: (d) => this.media.handleServerOffer(d),
      chat: (m) => pushChat(state, m),
      active_speaker: (d) => {
        state.activeSpeaker = d?.participant_id || null
      },
      muted: (d) => {
        mutedByMediator(state, d)
        this.media.applyLocalMute()
      },
      session_started: () => notice(state, 'room.sessionStarted'),
      session_ended: (d) => {
        sessionEnded(state, d)
        // The ack of our own end_session comes after this event: keep the socket a moment so it
        // arrives (the server closes the connection itself).
        this.teardown(false, 1500)
      },
      media_failed: () => this.media.scheduleRestart(200),
      caption: (c) => {
        pushCaption(state, c)
        this.signaling.fire('caption', c)
      },
      transcript_update: (d) => this.signaling.fire('transcript_update', d),
      transcript_alert: (d) => pushAlert(state, 'transcript', d),
      recording_alert: (d) => pushAlert(state, 'recording', d),
      // Staff notices about the room: a party joined from another device, the server restarted.
      room_notice: (d) => pushAlert(state, 'room', d),
      identity_check: (d) => this.onIdentityCheck(d),
      agreement_state: (d) => {
        const a = d?.agreement
        setAgreement(state, a)
        this.signaling.fire('agreement_state', a)
      },
    })
  }

  // --- the connection ----------------------------------------------------------------------

  private async onConnect(): Promise<void> {
    const ack = await this.request('join', {
      consent: this.opts.consent,
      audio: !this.state.audioMuted,
      video: !this.state.videoMuted,
    })
    if (!ack.ok) {
      this.fail(ack.error || { code: 'join_failed', message: 'join failed' })
      return
    }
    this.everJoined = true
    joined(this.state)
    const room = ack.room as RoomState | undefined
    if (room) this.onRoomState(room)
    // Tell the server what is switched off (it starts everyone unmuted).
    if (this.state.audioMuted) void this.request('mute', { kind: 'audio', muted: true })
    if (this.state.videoMuted) void this.request('mute', { kind: 'video', muted: true })
    if (this.state.handRaised) void this.request('raise_hand', { raised: true })
    if (this.state.captionsEnabled === false) void this.request('captions', { enabled: false })
    const presence = this.state.room?.you?.presence
    if (presence === 'admitted') void this.loadAgreements()
    if (presence === 'admitted') this.media.rejoined()
    else this.state.phase = 'lobby'
  }

  private onConnectError(err: ConnectError): void {
    const data = err.data
    if (data && data.code) {
      if (isRefusal(data.code)) {
        this.fail({ code: data.code, message: data.message || data.code })
        return
      }
      // Anything else (server hiccup): retry by hand.
      this.signaling.redialIn(3000)
    }
    connectFailed(this.state, this.everJoined, err.message, lossCause())
  }

  private onDisconnect(reason: string): void {
    if (this.signaling.closedByUs) return
    if (!connectionLost(this.state, reason === 'io client disconnect' ? null : lossCause())) return
    this.media.close()
    if (reason === 'io server disconnect') {
      // The server closed us without a reason event: try again shortly.
      this.signaling.redialIn(1500)
    }
  }

  private onOnline(): void {
    if (!this.signaling.resume() && this.state.phase === 'reconnecting') this.media.scheduleRestart(100)
  }

  // --- presence ----------------------------------------------------------------------------

  private onRoomState(s: RoomState): void {
    const { before, now, muted } = applyRoomState(this.state, s)
    if (muted) this.media.applyLocalMute()
    if (before !== now) {
      // The identity-check connection ends with admission: start the room's own.
      if (now === 'admitted') this.media.endLobbyMedia()
      if (now === 'admitted' && before) void this.loadAgreements()
      if (now === 'admitted' && !this.media.pc && this.signaling.socket?.connected) {
        this.media.enterRoom()
      } else if (now === 'lobby') {
        this.media.close()
        this.state.phase = 'lobby'
      }
    }
    dropHiddenRemotes(this.state)
  }

  private onAdmitted(): void {
    this.media.endLobbyMedia()
    if (!this.media.pc) this.media.enterRoom()
  }

  private onIdentityCheck(d: IdentityCheckState): void {
    setIdentityCheck(this.state, d)
    if (d?.open) this.media.startLobbyMedia()
    else this.media.endLobbyMedia()
  }

  private onReturnedToLobby(): void {
    this.media.hadMedia = false
    this.media.close()
    returnedToLobby(this.state)
  }

  private dismiss(reason: 'denied' | 'removed' | 'replaced', message: string): void {
    dismissed(this.state, reason, message)
    this.teardown(false)
  }

  private fail(error: { code: string; message: string }): void {
    failed(this.state, error)
    this.teardown(false)
  }

  // --- actions -----------------------------------------------------------------------------

  dismissAlert(id: number): void {
    dismissAlert(this.state, id)
  }

  async loadAgreements(): Promise<void> {
    for (const kind of ['agreement', 'failure_record'] as AgreementKind[]) {
      const ack = await this.request('agreement_get', { kind })
      const a = ack.ok ? (ack.agreement as AgreementView | null) : null
      if (a) this.state.agreements[kind] = a
    }
  }

  async setCaptions(enabled: boolean): Promise<AckResult> {
    const ack = await this.request('captions', { enabled })
    if (ack.ok) this.state.captionsEnabled = ack.enabled === undefined ? enabled : !!ack.enabled
    return ack
  }

  /** What arrived so far from each publisher on the current peer connection (tests, tiles). */
  received(): Promise<Record<string, Received>> {
    return this.media.received()
  }

  async request(event: string, payload: unknown = {}, timeoutMs = 10000): Promise<AckResult> {
    return this.signaling.request(event, payload, timeoutMs, () => this.state.phase === 'ended')
  }

  async setMuted(kind: 'audio' | 'video', muted: boolean): Promise<AckResult> {
    if (!muted && !this.media.hasLocalTrack(kind)) return { ok: false, error: { code: 'no_device', message: 'no device' } }
    setLocalMuted(this.state, kind, muted)
    this.media.applyLocalMute()
    return this.request('mute', { kind, muted })
  }

  /** Switch camera or microphone in the room, on the same sender where there is one. */
  switchDevice(kind: 'audio' | 'video', deviceId: string): Promise<AckResult> {
    return this.media.switchDevice(kind, deviceId)
  }

  /** The device id of the current camera or microphone. */
  currentDevice(kind: 'audio' | 'video'): string | undefined {
    return this.media.currentDevice(kind)
  }

  async raiseHand(raised: boolean): Promise<AckResult> {
    this.state.handRaised = raised
    return this.request('raise_hand', { raised })
  }

  async sendChat(text: string): Promise<AckResult> {
    return this.request('chat', { text })
  }

  /** Drop the connection and reconnect (also used by tests and by the kiosk). */
  reconnectNow(): void {
    this.media.close()
    if (this.signaling.socket) {
      this.state.phase = 'reconnecting'
      this.signaling.redial()
    }
  }

  private teardown(leave: boolean, disconnectAfterMs?: number): void {
    this.media.stop()
    this.signaling.close(leave, disconnectAfterMs)
  }

  leave(): void {
    this.teardown(true)
    this.state.phase = 'idle'
  }
}
