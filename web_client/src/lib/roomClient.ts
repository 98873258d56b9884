// One participant's live connection: socket.io signaling + one RTCPeerConnection to the server.
import { io, type Socket } from 'socket.io-client'
import { markRaw, reactive } from 'vue'
import { Negotiator } from './negotiation'
import { qualityBetween, sampleStats, type Quality, type StatsSample } from './quality'
import { publisherOfTrackEvent } from './trackIds'
import { receivedByPublisher, updateFlow, type Flow, type Received } from './mediaFlow'
import { audioConstraints, videoConstraints } from './media'
import type { AgreementKind, AgreementView, Alert, Caption, ChatMessage, IceServer, RoomParticipant, RoomState } from './types'
import { DEAD_LINK_CODES } from './api'

export type Phase =
  | 'idle'
  | 'connecting'
  | 'lobby'
  | 'room'
  | 'reconnecting'
  | 'ended'
  | 'dismissed'
  | 'error'

export interface AckResult {
  ok: boolean
  error?: { code: string; message: string }
  [k: string]: unknown
}

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

export class RoomClient {
  socket: Socket | null = null
  pc: RTCPeerConnection | null = null
  negotiator: Negotiator | null = null
  private statsTimer: ReturnType<typeof setInterval> | null = null
  private lastSample: StatsSample | null = null
  private restartTimer: ReturnType<typeof setTimeout> | null = null
  private trackOwner = new Map<string, string>()
  private everJoined = false
  /** Whether media ever connected: later drops show "reconnecting". */
  private hadMedia = false
  private closedByUs = false
  private onlineHandler = () => this.onOnline()
  private offlineHandler = () => this.onOffline()

  state = reactive({
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
    lostCause: null as 'network' | 'server' | null,
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

  /** Raw events for pages that need more than the room view (clerk's live transcript). */
  private listeners: Record<string, ((payload: unknown) => void)[]> = {}

  on(event: string, fn: (payload: unknown) => void): () => void {
    ;(this.listeners[event] ||= []).push(fn)
    return () => {
      this.listeners[event] = (this.listeners[event] || []).filter((f) => f !== fn)
    }
  }

  private fire(event: string, payload: unknown): void {
    for (const fn of this.listeners[event] || []) {
      try {
        fn(payload)
      } catch (e) {
        console.error(e)
      }
    }
  }

  /** Whether the client holds a peer connection only for an identity check in the lobby. */
  private lobbyMedia = false

  constructor(public opts: RoomClientOptions) {
    this.state.audioMuted = !!opts.audioMuted || !opts.localStream?.getAudioTracks().length
    this.state.videoMuted = !!opts.videoMuted || !opts.localStream?.getVideoTracks().length
    this.applyLocalMute()
  }

  get me(): RoomParticipant | null {
    return this.state.room?.you || null
  }

  get isMediator(): boolean {
    return this.me?.kind === 'mediator'
  }

  participant(pid: string): RoomParticipant | undefined {
    return this.state.room?.participants.find((p) => p.participant_id === pid)
  }

  /** Participants whose media this client may see: admitted (or reconnecting), same group, not me. */
  visibleOthers(): RoomParticipant[] {
    const room = this.state.room
    const me = room?.you
    if (!room || !me) return []
    return room.participants.filter(
      (p) => p.participant_id !== me.participant_id && (p.presence === 'admitted' || p.presence === 'reconnecting') && p.group === me.group,
    )
  }

  connect(): void {
    this.closedByUs = false
    this.state.phase = 'connecting'
    const auth: Record<string, string> = {}
    if (this.opts.token) auth.token = this.opts.token
    if (this.opts.sessionId) auth.session_id = this.opts.sessionId
    const socket = io(this.opts.url || window.location.origin, {
      path: this.opts.path || '/socket.io/',
      auth,
      transports: ['websocket', 'polling'],
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      timeout: 8000,
    })
    this.socket = socket
    socket.on('connect', () => void this.onConnect())
    socket.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => this.onConnectError(err))
    socket.on('disconnect', (reason: string) => this.onDisconnect(reason))
    socket.on('room_state', (s: RoomState) => this.onRoomState(s))
    socket.on('admitted', () => this.onAdmitted())
    socket.on('denied', (d: { message: string }) => this.dismiss('denied', d?.message))
    socket.on('removed', (d: { message: string }) => this.dismiss('removed', d?.message))
    socket.on('replaced', (d: { message: string }) => this.dismiss('replaced', d?.message))
    socket.on('returned_to_lobby', () => this.onReturnedToLobby())
    socket.on('offer', (d: { sdp: string; type: string }) => this.onServerOffer(d))
    socket.on('chat', (m: ChatMessage) => {
      this.state.chat.push(m)
      if (this.state.chat.length > 300) this.state.chat.splice(0, this.state.chat.length - 300)
    })
    socket.on('active_speaker', (d: { participant_id: string | null }) => {
      this.state.activeSpeaker = d?.participant_id || null
    })
    socket.on('muted', (d: { kind: 'audio' | 'video'; muted: boolean }) => {
      if (d.kind === 'audio') this.state.audioMuted = d.muted
      else this.state.videoMuted = d.muted
      this.applyLocalMute()
      this.state.notice = { key: d.kind === 'audio' ? 'room.mutedByMediatorAudio' : 'room.mutedByMediatorVideo', at: Date.now() }
    })
    socket.on('session_started', () => {
      this.state.notice = { key: 'room.sessionStarted', at: Date.now() }
    })
    socket.on('session_ended', (d: { outcome: string; note: string }) => {
      this.state.ended = { outcome: d?.outcome || '', note: d?.note || '' }
      this.state.phase = 'ended'
      // The ack of our own end_session comes after this event: keep the socket a moment so it
      // arrives (the server closes the connection itself).
      this.teardown(false, 1500)
    })
    socket.on('media_failed', () => this.scheduleMediaRestart(200))
    socket.on('caption', (c: Caption & Record<string, unknown>) => {
      this.onCaption(c)
      this.fire('caption', c)
    })
    socket.on('transcript_update', (d: unknown) => this.fire('transcript_update', d))
    socket.on('transcript_alert', (d: { reason?: string; message?: string }) => this.pushAlert('transcript', d))
    socket.on('recording_alert', (d: { reason?: string; message?: string }) => this.pushAlert('recording', d))
    // Staff notices about the room: a party joined from another device, the server restarted.
    socket.on('room_notice', (d: { reason?: string; message?: string }) => this.pushAlert('room', d))
    socket.on('identity_check', (d: IdentityCheckState) => this.onIdentityCheck(d))
    socket.on('agreement_state', (d: { agreement?: AgreementView }) => {
      const a = d?.agreement
      if (a?.kind) this.state.agreements[a.kind] = a
      this.fire('agreement_state', a)
    })
    window.addEventListener('online', this.onlineHandler)
    window.addEventListener('offline', this.offlineHandler)
  }

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
    this.state.lostCause = null
    this.state.error = null
    this.state.attempts = 0
    const room = ack.room as RoomState | undefined
    if (room) this.onRoomState(room)
    // Tell the server what is switched off (it starts everyone unmuted).
    if (this.state.audioMuted) void this.request('mute', { kind: 'audio', muted: true })
    if (this.state.videoMuted) void this.request('mute', { kind: 'video', muted: true })
    if (this.state.handRaised) void this.request('raise_hand', { raised: true })
    if (this.state.captionsEnabled === false) void this.request('captions', { enabled: false })
    const presence = this.state.room?.you?.presence
    if (presence === 'admitted') void this.loadAgreements()
    if (presence === 'admitted') {
      // onRoomState may already have started media for this connection, and it may even be
      // connected by now (the join ack can come after the room state): then we are in.
      const current = !!this.pc && this.pcSocketId === this.socket?.id
      if (current && this.pc!.connectionState === 'connected') this.state.phase = 'room'
      else this.state.phase = this.hadMedia ? 'reconnecting' : 'room'
      if (!current) this.startMedia()
    } else {
      this.state.phase = 'lobby'
    }
  }

  private onConnectError(err: Error & { data?: { code?: string; message?: string } }): void {
    const data = err.data
    if (data && data.code) {
      // Refused by the server (bad/expired link, closed session): socket.io will not retry.
      if (DEAD_LINK_CODES.has(data.code) || ['unauthenticated', 'forbidden', 'session_closed', 'session_ended', 'not_allowed'].includes(data.code)) {
        this.fail({ code: data.code, message: data.message || data.code })
        return
      }
      // Anything else (server hiccup): retry by hand.
      this.state.attempts += 1
      setTimeout(() => this.socket?.connect(), 3000)
    } else {
      this.state.attempts += 1
    }
    if (this.everJoined) {
      this.state.phase = 'reconnecting'
      this.state.lostCause = this.lossCause()
    } else this.state.error = { code: 'unreachable', message: err.message }
  }

  /** A lost connection is the server's fault when this device still has a network. */
  private lossCause(): 'network' | 'server' {
    return typeof navigator !== 'undefined' && navigator.onLine === false ? 'network' : 'server'
  }

  private onDisconnect(reason: string): void {
    if (this.closedByUs || ['ended', 'dismissed', 'error'].includes(this.state.phase)) return
    this.state.lostCause = reason === 'io client disconnect' ? null : this.lossCause()
    if (this.state.phase === 'room' || this.state.phase === 'reconnecting') this.state.phase = 'reconnecting'
    else if (this.state.phase === 'lobby') this.state.phase = 'connecting'
    this.closePeer()
    if (reason === 'io server disconnect') {
      // The server closed us without a reason event: try again shortly.
      setTimeout(() => this.socket?.connect(), 1500)
    }
  }

  private onOffline(): void {
    this.state.lostCause = 'network'
    if (this.state.phase === 'room') this.state.phase = 'reconnecting'
  }

  private onOnline(): void {
    if (this.socket && !this.socket.connected) this.socket.connect()
    else if (this.state.phase === 'reconnecting') this.scheduleMediaRestart(100)
  }

  private onRoomState(s: RoomState): void {
    const before = this.state.room?.you?.presence
    this.state.room = s
    const now = s.you?.presence
    if (s.you) {
      this.state.handRaised = s.you.hand_raised
      // The server's mute flags are authoritative (the mediator may mute us).
      if (s.you.audio_muted && !this.state.audioMuted) {
        this.state.audioMuted = true
        this.applyLocalMute()
      }
      if (s.you.video_muted && !this.state.videoMuted) {
        this.state.videoMuted = true
        this.applyLocalMute()
      }
    }
    if (before !== now) {
      if (now === 'admitted' && this.lobbyMedia) {
        // The identity-check connection ends with admission: start the room's own.
        this.lobbyMedia = false
        this.state.identityCheck = null
        this.closePeer()
      }
      if (now === 'admitted' && before) void this.loadAgreements()
      if (now === 'admitted' && !this.pc && this.socket?.connected) {
        this.state.phase = this.hadMedia ? 'reconnecting' : 'room'
        this.startMedia()
      } else if (now === 'lobby') {
        this.closePeer()
        this.state.phase = 'lobby'
      }
    }
    // Drop streams of people no longer visible (left, other caucus group).
    const visible = new Set(this.visibleOthers().map((p) => p.participant_id))
    for (const pid of Object.keys(this.state.remote)) {
      if (!visible.has(pid) && !this.participant(pid)) {
        delete this.state.remote[pid]
        this.state.remoteVersion++
      }
    }
  }

  private onAdmitted(): void {
    if (this.lobbyMedia) {
      this.lobbyMedia = false
      this.state.identityCheck = null
      this.closePeer()
    }
    if (!this.pc) {
      this.state.phase = this.hadMedia ? 'reconnecting' : 'room'
      this.startMedia()
    }
  }

  private onIdentityCheck(d: IdentityCheckState): void {
    if (d?.open) {
      this.state.identityCheck = { open: true, by: d.by, role_label: d.role_label }
      if (this.state.phase === 'lobby' && !this.pc && this.socket?.connected) {
        this.lobbyMedia = true
        this.startMedia()
      }
    } else {
      this.state.identityCheck = null
      if (this.lobbyMedia) {
        this.lobbyMedia = false
        this.closePeer()
      }
    }
  }

  private pushAlert(kind: 'recording' | 'transcript' | 'room', d: { reason?: string; message?: string }): void {
    this.state.alerts.push({ id: ++alertSeq, kind, reason: d?.reason || '', message: d?.message || '', at: Date.now() })
    if (this.state.alerts.length > 20) this.state.alerts.splice(0, this.state.alerts.length - 20)
  }

  dismissAlert(id: number): void {
    const i = this.state.alerts.findIndex((a) => a.id === id)
    if (i >= 0) this.state.alerts.splice(i, 1)
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

  private onReturnedToLobby(): void {
    this.hadMedia = false
    this.closePeer()
    this.state.phase = 'lobby'
    this.state.notice = { key: 'room.returnedToLobby', at: Date.now() }
  }

  private dismiss(reason: 'denied' | 'removed' | 'replaced', message: string): void {
    this.state.dismissed = { reason, message: message || '' }
    this.state.phase = 'dismissed'
    this.teardown(false)
  }

  private fail(error: { code: string; message: string }): void {
    this.state.error = error
    this.state.phase = 'error'
    this.teardown(false)
  }

  private onCaption(c: Caption & Record<string, unknown>): void {
    const n = normalizeCaption(c, (pid) => this.participant(pid))
    const list = this.state.captions
    const last = list[list.length - 1]
    if (last && !last.final && last.speaker === n.speaker) list[list.length - 1] = { ...n, id: last.id }
    else list.push({ ...n, id: ++captionSeq })
    if (list.length > 100) list.splice(0, list.length - 100)
  }

  // --- media ------------------------------------------------------------------------------
  /** How many peer connections this client has started (diagnostics). */
  mediaStarts = 0
  /** The socket connection the current peer connection was negotiated on. */
  private pcSocketId: string | undefined


  private startMedia(): void {
    this.mediaStarts++
    this.closePeer()
    this.pcSocketId = this.socket?.id
    const iceServers = (this.opts.iceServers || []).map((s) => ({
      urls: s.urls,
      username: s.username || undefined,
      credential: s.credential || undefined,
    }))
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' })
    this.pc = markRaw(pc)
    const stream = this.opts.localStream
    let sending = 0
    if (stream) {
      for (const track of stream.getTracks()) {
        pc.addTrack(track, stream)
        sending++
      }
    }
    if (!sending) {
      // Receive-only: the server needs at least one media section in the first offer.
      pc.addTransceiver('audio', { direction: 'recvonly' })
    }
    pc.addEventListener('track', (ev) => this.onTrack(ev))
    pc.addEventListener('icecandidate', (ev) => {
      // The offer carries the candidates gathered in time; trickle only what came later,
      // once the server has the peer connection.
      const n = this.negotiator
      if (!n || pc !== this.pc || n.gatheredBeforeOffer || !n.offerAnswered) return
      if (ev.candidate && ev.candidate.candidate && this.socket?.connected) {
        void this.request('ice_candidate', {
          candidate: ev.candidate.candidate,
          sdpMid: ev.candidate.sdpMid,
          sdpMLineIndex: ev.candidate.sdpMLineIndex,
        })
      }
    })
    pc.addEventListener('connectionstatechange', () => {
      if (pc !== this.pc) return
      this.state.mediaState = pc.connectionState
      if (this.lobbyMedia) return // identity check in the lobby: no room phases
      if (pc.connectionState === 'connected') {
        this.hadMedia = true
        if (this.state.phase === 'reconnecting' || this.state.phase === 'connecting') this.state.phase = 'room'
      } else if (pc.connectionState === 'failed') {
        if (this.state.phase === 'room') this.state.phase = 'reconnecting'
        this.scheduleMediaRestart(500)
      } else if (pc.connectionState === 'disconnected') {
        // Often recovers by itself; restart if it does not within a few seconds.
        if (this.state.phase === 'room') this.state.phase = 'reconnecting'
        this.scheduleMediaRestart(5000)
      }
    })
    const negotiator = new Negotiator(pc, {
      sendOffer: (offer) => this.request('offer', offer, 20000) as Promise<{ ok: boolean; sdp?: string; error?: { code: string; message: string } }>,
      sendAnswer: (answer) => void this.request('answer', answer),
    })
    this.negotiator = negotiator
    negotiator.start().catch((err: { code?: string }) => {
      if (pc !== this.pc || this.lobbyMedia) return
      if (err?.code === 'not_admitted') return
      if (this.hadMedia && this.state.phase === 'room') this.state.phase = 'reconnecting'
      this.scheduleMediaRestart(2000)
    })
    this.startStats()
  }

  private onServerOffer(d: { sdp: string; type: string }): void {
    if (!this.negotiator || !d?.sdp) return
    this.negotiator.handleRemoteOffer(d.sdp).catch((err: unknown) => {
      console.warn('server offer failed', err)
      // A broken renegotiation: start a fresh peer connection, even if ICE is still connected
      // (it carries nothing new until a renegotiation succeeds).
      this.scheduleMediaRestart(500, true)
    })
  }

  private onTrack(ev: RTCTrackEvent): void {
    const pid = publisherOfTrackEvent(ev, this.pc?.remoteDescription?.sdp)
    if (!pid) return
    const track = ev.track
    const prevOwner = this.trackOwner.get(track.id)
    if (prevOwner && prevOwner !== pid) this.state.remote[prevOwner]?.removeTrack(track)
    this.trackOwner.set(track.id, pid)
    let stream = this.state.remote[pid]
    if (!stream) {
      stream = markRaw(new MediaStream())
      this.state.remote[pid] = stream
    }
    // One track per kind: a newer forwarded track replaces the older one.
    for (const t of stream.getTracks()) if (t.kind === track.kind && t.id !== track.id) stream.removeTrack(t)
    if (!stream.getTrackById(track.id)) stream.addTrack(track)
    track.addEventListener('ended', () => {
      stream.removeTrack(track)
      this.state.remoteVersion++
    })
    this.state.remoteVersion++
  }

  private scheduleMediaRestart(delay: number, force = false): void {
    if (this.restartTimer) return
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null
      if (['ended', 'dismissed', 'error', 'lobby'].includes(this.state.phase)) return
      if (!this.socket?.connected) return // rejoin on reconnect starts media again
      if (!force && this.pc && this.pc.connectionState === 'connected') return
      if (this.state.room?.you?.presence !== 'admitted') return
      this.startMedia()
    }, delay)
  }

  private lastReceived: Record<string, Received> = {}
  private statsTicks = 0

  /** What arrived so far from each publisher on the current peer connection (tests, tiles). */
  async received(): Promise<Record<string, Received>> {
    const pc = this.pc
    if (!pc) return {}
    return receivedByPublisher(await pc.getStats(), pc.remoteDescription?.sdp)
  }

  private startStats(): void {
    if (this.statsTimer) clearInterval(this.statsTimer)
    this.lastSample = null
    this.lastReceived = {}
    this.statsTicks = 0
    this.state.flow = {}
    this.state.mediaSince = Date.now()
    this.statsTimer = setInterval(async () => {
      const pc = this.pc
      if (!pc) return
      try {
        const report = await pc.getStats()
        if (pc !== this.pc) return
        const now = Date.now()
        const received = receivedByPublisher(report, pc.remoteDescription?.sdp)
        updateFlow(this.state.flow, this.lastReceived, received, now)
        this.lastReceived = received
        // Connection quality over two-second intervals, the per-publisher flow every second.
        if (this.statsTicks++ % 2 === 0) {
          const sample = sampleStats(report)
          this.state.quality = qualityBetween(this.lastSample, sample)
          this.lastSample = sample
        }
      } catch {
        this.state.quality = 'unknown'
      }
    }, 1000)
  }

  private closePeer(): void {
    if (this.statsTimer) clearInterval(this.statsTimer)
    this.statsTimer = null
    if (this.negotiator) this.negotiator.closed = true
    this.negotiator = null
    if (this.pc) {
      try {
        this.pc.close()
      } catch {
        /* already closed */
      }
    }
    this.pc = null
    this.state.mediaState = 'closed'
    this.trackOwner.clear()
    for (const k of Object.keys(this.state.remote)) delete this.state.remote[k]
    this.state.remoteVersion++
    this.state.quality = 'unknown'
  }

  private applyLocalMute(): void {
    const s = this.opts.localStream
    s?.getAudioTracks().forEach((t) => (t.enabled = !this.state.audioMuted))
    s?.getVideoTracks().forEach((t) => (t.enabled = !this.state.videoMuted))
  }

  // --- actions -----------------------------------------------------------------------------
  async request(event: string, payload: unknown = {}, timeoutMs = 10000): Promise<AckResult> {
    const socket = this.socket
    if (!socket || !socket.connected) return { ok: false, error: { code: 'offline', message: '未连接 / not connected' } }
    try {
      return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as AckResult
    } catch {
      if (this.state.phase === 'ended') return { ok: false, error: { code: 'session_ended', message: '调解已结束 / this session has ended' } }
      return { ok: false, error: { code: 'timeout', message: '服务器无响应 / no response' } }
    }
  }

  async setMuted(kind: 'audio' | 'video', muted: boolean): Promise<AckResult> {
    const hasTrack = kind === 'audio' ? this.opts.localStream?.getAudioTracks().length : this.opts.localStream?.getVideoTracks().length
    if (!muted && !hasTrack) return { ok: false, error: { code: 'no_device', message: 'no device' } }
    if (kind === 'audio') this.state.audioMuted = muted
    else this.state.videoMuted = muted
    this.applyLocalMute()
    return this.request('mute', { kind, muted })
  }

  /**
   * Switch camera or microphone in the room. The new device's track replaces the old one on
   * the same sender (same m-line, no renegotiation): the server keeps forwarding it and the
   * subscribers' decoders go on at its first keyframe. Without a sender of that kind (joined
   * without a camera) a fresh peer connection carries it.
   */
  async switchDevice(kind: 'audio' | 'video', deviceId: string): Promise<AckResult> {
    let fresh: MediaStream
    try {
      fresh = await navigator.mediaDevices.getUserMedia(
        kind === 'video' ? { video: videoConstraints(deviceId) } : { audio: audioConstraints(deviceId) },
      )
    } catch (e) {
      return { ok: false, error: { code: 'device_failed', message: String((e as Error)?.message || e) } }
    }
    const track = kind === 'video' ? fresh.getVideoTracks()[0] : fresh.getAudioTracks()[0]
    if (!track) return { ok: false, error: { code: 'no_device', message: 'no device' } }
    const stream = this.opts.localStream
    const old = stream?.getTracks().find((t) => t.kind === kind)
    const sender = this.pc?.getSenders().find((x) => (old && x.track === old) || x.track?.kind === kind)
    if (stream) {
      if (old) stream.removeTrack(old)
      stream.addTrack(track)
    } else {
      this.opts.localStream = markRaw(new MediaStream([track]))
    }
    this.applyLocalMute()
    if (sender) await sender.replaceTrack(track)
    old?.stop()
    this.state.localVersion++
    if (!sender && this.pc && this.socket?.connected) this.startMedia()
    return { ok: true }
  }

  /** The device id of the current camera or microphone. */
  currentDevice(kind: 'audio' | 'video'): string | undefined {
    return this.opts.localStream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId
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
    this.closePeer()
    if (this.socket) {
      this.state.phase = 'reconnecting'
      this.socket.disconnect()
      this.closedByUs = false
      setTimeout(() => this.socket?.connect(), 300)
    }
  }

  private teardown(leave: boolean, disconnectAfterMs?: number): void {
    this.closePeer()
    if (this.restartTimer) clearTimeout(this.restartTimer)
    this.restartTimer = null
    window.removeEventListener('online', this.onlineHandler)
    window.removeEventListener('offline', this.offlineHandler)
    if (this.socket) {
      this.closedByUs = true
      if (leave && this.socket.connected) this.socket.emit('leave', {})
      const s = this.socket
      setTimeout(() => s.disconnect(), disconnectAfterMs ?? (leave ? 200 : 0))
    }
  }

  leave(): void {
    this.teardown(true)
    this.state.phase = 'idle'
  }
}
