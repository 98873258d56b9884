// The media side of a room connection: one RTCPeerConnection to the server at a time, the
// local tracks on it, its negotiation (negotiation.ts), the remote streams by publisher
// (trackIds.ts), and the stats behind the quality badge and the tiles' 无画面 (mediaFlow.ts).
import { markRaw } from 'vue'
import { Negotiator } from './negotiation'
import { qualityBetween, sampleStats, type StatsSample } from './quality'
import { publisherOfTrackEvent } from './trackIds'
import { receivedByPublisher, updateFlow, type Received } from './mediaFlow'
import { audioConstraints, videoConstraints } from './media'
import type { RoomClientState } from './roomState'
import type { AckResult } from './signaling'
import type { IceServer } from './types'

export interface MediaOptions {
  iceServers?: IceServer[]
  /** Set here when a device switch brings the first local track. */
  localStream: MediaStream | null
}

/** What the media side needs of the room client (RoomClient is one). */
export interface MediaHost {
  readonly state: RoomClientState
  readonly opts: MediaOptions
  /** Looked up on each call: the scenario tests wrap request() on the instance. */
  request(event: string, payload?: unknown, timeoutMs?: number): Promise<AckResult>
  readonly socket: { readonly id: string | undefined; readonly connected: boolean } | null
}

export class RoomMedia {
  pc: RTCPeerConnection | null = null
  negotiator: Negotiator | null = null
  /** How many peer connections this client has started (diagnostics). */
  mediaStarts = 0
  /** Whether media ever connected: later drops show "reconnecting". */
  hadMedia = false
  /** Whether the client holds a peer connection only for an identity check in the lobby. */
  lobbyMedia = false
  /** The socket connection the current peer connection was negotiated on. */
  private pcSocketId: string | undefined
  private trackOwner = new Map<string, string>()
  private restartTimer: ReturnType<typeof setTimeout> | null = null
  private statsTimer: ReturnType<typeof setInterval> | null = null
  private lastSample: StatsSample | null = null
  private lastReceived: Record<string, Received> = {}
  private statsTicks = 0

  constructor(private host: MediaHost) {}

  private get state(): RoomClientState {
    return this.host.state
  }

  // --- when to hold a peer connection ----------------------------------------------------

  /** Into the room (admitted): a fresh peer connection, "reconnecting" until it connects again. */
  enterRoom(): void {
    this.state.phase = this.hadMedia ? 'reconnecting' : 'room'
    this.start()
  }

  /** Joined while admitted: keep a peer connection already started on this socket. */
  rejoined(): void {
    // onRoomState may already have started media for this connection, and it may even be
    // connected by now (the join ack can come after the room state): then we are in.
    const current = !!this.pc && this.pcSocketId === this.host.socket?.id
    if (current && this.pc!.connectionState === 'connected') this.state.phase = 'room'
    else this.state.phase = this.hadMedia ? 'reconnecting' : 'room'
    if (!current) this.start()
  }

  /** Staff opened an identity check while we wait in the lobby: our camera goes to them. */
  startLobbyMedia(): void {
    if (this.state.phase === 'lobby' && !this.pc && this.host.socket?.connected) {
      this.lobbyMedia = true
      this.start()
    }
  }

  /** The identity check is over (closed, or we were admitted): its peer connection goes. */
  endLobbyMedia(): void {
    if (!this.lobbyMedia) return
    this.lobbyMedia = false
    this.state.identityCheck = null
    this.close()
  }

  start(): void {
    this.mediaStarts++
    this.close()
    this.pcSocketId = this.host.socket?.id
    const iceServers = (this.host.opts.iceServers || []).map((s) => ({
      urls: s.urls,
      username: s.username || undefined,
      credential: s.credential || undefined,
    }))
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' })
    this.pc = markRaw(pc)
    const stream = this.host.opts.localStream
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
      if (ev.candidate && ev.candidate.candidate && this.host.socket?.connected) {
        void this.host.request('ice_candidate', {
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
        this.scheduleRestart(500)
      } else if (pc.connectionState === 'disconnected') {
        // Often recovers by itself; restart if it does not within a few seconds.
        if (this.state.phase === 'room') this.state.phase = 'reconnecting'
        this.scheduleRestart(5000)
      }
    })
    const negotiator = new Negotiator(pc, {
      sendOffer: (offer) => this.host.request('offer', offer, 20000) as Promise<{ ok: boolean; sdp?: string; error?: { code: string; message: string } }>,
      sendAnswer: (answer) => void this.host.request('answer', answer),
    })
    this.negotiator = negotiator
    negotiator.start().catch((err: { code?: string }) => {
      if (pc !== this.pc || this.lobbyMedia) return
      if (err?.code === 'not_admitted') return
      if (this.hadMedia && this.state.phase === 'room') this.state.phase = 'reconnecting'
      this.scheduleRestart(2000)
    })
    this.startStats()
  }

  handleServerOffer(d: { sdp: string; type: string }): void {
    if (!this.negotiator || !d?.sdp) return
    this.negotiator.handleRemoteOffer(d.sdp).catch((err: unknown) => {
      console.warn('server offer failed', err)
      // A broken renegotiation: start a fresh peer connection, even if ICE is still connected
      // (it carries nothing new until a renegotiation succeeds).
      this.scheduleRestart(500, true)
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

  scheduleRestart(delay: number, force = false): void {
    if (this.restartTimer) return
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null
      if (['ended', 'dismissed', 'error', 'lobby'].includes(this.state.phase)) return
      if (!this.host.socket?.connected) return // rejoin on reconnect starts media again
      if (!force && this.pc && this.pc.connectionState === 'connected') return
      if (this.state.room?.you?.presence !== 'admitted') return
      this.start()
    }, delay)
  }

  // --- stats --------------------------------------------------------------------------------

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

  close(): void {
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

  /** Close the peer connection and restart nothing later (the room is over for this client). */
  stop(): void {
    this.close()
    if (this.restartTimer) clearTimeout(this.restartTimer)
    this.restartTimer = null
  }

  // --- local tracks -----------------------------------------------------------------------

  hasLocalTrack(kind: 'audio' | 'video'): boolean {
    const stream = this.host.opts.localStream
    return !!(kind === 'audio' ? stream?.getAudioTracks().length : stream?.getVideoTracks().length)
  }

  applyLocalMute(): void {
    const s = this.host.opts.localStream
    s?.getAudioTracks().forEach((t) => (t.enabled = !this.state.audioMuted))
    s?.getVideoTracks().forEach((t) => (t.enabled = !this.state.videoMuted))
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
    const opts = this.host.opts
    const stream = opts.localStream
    const old = stream?.getTracks().find((t) => t.kind === kind)
    const sender = this.pc?.getSenders().find((x) => (old && x.track === old) || x.track?.kind === kind)
    if (stream) {
      if (old) stream.removeTrack(old)
      stream.addTrack(track)
    } else {
      opts.localStream = markRaw(new MediaStream([track]))
    }
    this.applyLocalMute()
    if (sender) await sender.replaceTrack(track)
    old?.stop()
    this.state.localVersion++
    if (!sender && this.pc && this.host.socket?.connected) this.start()
    return { ok: true }
  }

  /** The device id of the current camera or microphone. */
  currentDevice(kind: 'audio' | 'video'): string | undefined {
    return this.host.opts.localStream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId
  }
}
