// The socket.io side of a room connection (docs/signaling.md): the socket and how it dials,
// requests with acks, the server's events, and dialling again after a drop.
import { io, type Socket } from 'socket.io-client'
import { DEAD_LINK_CODES } from './api'
import type { IdentityCheckState, LostCause } from './roomState'
import type { AgreementView, Caption, ChatMessage, RoomState } from './types'

export interface AckResult {
  ok: boolean
  error?: { code: string; message: string }
  [k: string]: unknown
}

/** The events the server sends a room client, with the payloads the client reads. */
export interface ServerEvents {
  room_state: (s: RoomState) => void
  admitted: () => void
  denied: (d: { message: string }) => void
  removed: (d: { message: string }) => void
  replaced: (d: { message: string }) => void
  returned_to_lobby: () => void
  offer: (d: { sdp: string; type: string }) => void
  chat: (m: ChatMessage) => void
  active_speaker: (d: { participant_id: string | null }) => void
  muted: (d: { kind: 'audio' | 'video'; muted: boolean }) => void
  session_started: () => void
  session_ended: (d: { outcome: string; note: string }) => void
  media_failed: () => void
  caption: (c: Caption & Record<string, unknown>) => void
  transcript_update: (d: unknown) => void
  transcript_alert: (d: { reason?: string; message?: string }) => void
  recording_alert: (d: { reason?: string; message?: string }) => void
  room_notice: (d: { reason?: string; message?: string }) => void
  identity_check: (d: IdentityCheckState) => void
  agreement_state: (d: { agreement?: AgreementView }) => void
}

/** The client emits any event of docs/signaling.md through request(), which types the ack. */
interface ClientEvents {
  [event: string]: (...args: unknown[]) => void
}

export type RoomSocket = Socket<ServerEvents, ClientEvents>

export type ConnectError = Error & { data?: { code?: string; message?: string } }

export interface SignalingOptions {
  /** Join-link token, or null for a staff connection (cookie + sessionId). */
  token?: string | null
  sessionId?: string | null
  url?: string
  path?: string
}

/** How the room client hears about the connection itself (the socket, and this device's network). */
export interface ConnectionHandlers {
  connect(): void
  connectError(err: ConnectError): void
  disconnect(reason: string): void
  online(): void
  offline(): void
}

/** A handshake the server refused (bad/expired link, closed session): socket.io will not retry. */
export function isRefusal(code: string): boolean {
  return DEAD_LINK_CODES.has(code) || ['unauthenticated', 'forbidden', 'session_closed', 'session_ended', 'not_allowed'].includes(code)
}

/** A lost connection is the server's fault when this device still has a network. */
export function lossCause(): LostCause {
  return typeof navigator !== 'undefined' && navigator.onLine === false ? 'network' : 'server'
}

export class Signaling {
  socket: RoomSocket | null = null
  /** Set once this client closes the socket itself: that disconnect is no loss. */
  closedByUs = false
  private onlineHandler = () => this.handlers.online()
  private offlineHandler = () => this.handlers.offline()
  /** Raw events for pages that need more than the room view (clerk's live transcript). */
  private listeners: Record<string, ((payload: unknown) => void)[]> = {}

  constructor(private handlers: ConnectionHandlers) {}

  on(event: string, fn: (payload: unknown) => void): () => void {
    ;(this.listeners[event] ||= []).push(fn)
    return () => {
      this.listeners[event] = (this.listeners[event] || []).filter((f) => f !== fn)
    }
  }

  fire(event: string, payload: unknown): void {
    for (const fn of this.listeners[event] || []) {
      try {
        fn(payload)
      } catch (e) {
        console.error(e)
      }
    }
  }

  open(opts: SignalingOptions, events: ServerEvents): void {
    this.closedByUs = false
    const auth: Record<string, string> = {}
    if (opts.token) auth.token = opts.token
    if (opts.sessionId) auth.session_id = opts.sessionId
    const socket: RoomSocket = io(opts.url || window.location.origin, {
      path: opts.path || '/socket.io/',
      auth,
      transports: ['websocket', 'polling'],
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      timeout: 8000,
    })
    this.socket = socket
    socket.on('connect', () => this.handlers.connect())
    socket.on('connect_error', (err: ConnectError) => this.handlers.connectError(err))
    socket.on('disconnect', (reason: string) => this.handlers.disconnect(reason))
    for (const event of Object.keys(events) as (keyof ServerEvents)[]) socket.on(event, events[event])
    window.addEventListener('online', this.onlineHandler)
    window.addEventListener('offline', this.offlineHandler)
  }

  /** Emit with an ack. A missing ack means the session ended when `ended()` says so, else a timeout. */
  async request(event: string, payload: unknown, timeoutMs: number, ended: () => boolean): Promise<AckResult> {
    const socket = this.socket
    if (!socket || !socket.connected) return { ok: false, error: { code: 'offline', message: '未连接 / not connected' } }
    try {
      return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as AckResult
    } catch {
      if (ended()) return { ok: false, error: { code: 'session_ended', message: '调解已结束 / this session has ended' } }
      return { ok: false, error: { code: 'timeout', message: '服务器无响应 / no response' } }
    }
  }

  /** Dial again after `ms`: socket.io does not retry after the server closed or refused us. */
  redialIn(ms: number): void {
    setTimeout(() => this.socket?.connect(), ms)
  }

  /** Dial again now if the socket is down; false when there is none or it is connected. */
  resume(): boolean {
    if (!this.socket || this.socket.connected) return false
    this.socket.connect()
    return true
  }

  /** Drop the socket on purpose and dial again shortly (tests, the kiosk). */
  redial(): void {
    const socket = this.socket
    if (!socket) return
    socket.disconnect()
    this.closedByUs = false
    this.redialIn(300)
  }

  /** Stop for good: `leave` gives up the seat (no reconnect grace), else the socket just closes. */
  close(leave: boolean, disconnectAfterMs?: number): void {
    window.removeEventListener('online', this.onlineHandler)
    window.removeEventListener('offline', this.offlineHandler)
    if (this.socket) {
      this.closedByUs = true
      if (leave && this.socket.connected) this.socket.emit('leave', {})
      const s = this.socket
      setTimeout(() => s.disconnect(), disconnectAfterMs ?? (leave ? 200 : 0))
    }
  }
}
