// Client side of the negotiation with the server peer (the client is the polite peer).
//
// One RTCPeerConnection per connection attempt. The client makes exactly one offer, its first,
// and gets the answer in the ack. Every later change is offered by the server ("offer" event)
// and answered by the client ("answer" event). Operations are serialized so a server offer
// never races the client's own offer; should one arrive while a local offer is pending anyway,
// the polite peer rolls its offer back.

export interface SdpLike {
  type: RTCSdpType
  sdp?: string
}

export interface PeerLike {
  signalingState: RTCSignalingState
  iceGatheringState: RTCIceGatheringState
  localDescription: SdpLike | null
  createOffer(): Promise<SdpLike>
  createAnswer(): Promise<SdpLike>
  setLocalDescription(d?: SdpLike): Promise<void>
  setRemoteDescription(d: SdpLike): Promise<void>
  addEventListener(type: string, fn: () => void): void
  removeEventListener(type: string, fn: () => void): void
}

export interface SignalingLike {
  /** Emit the client's offer; resolves with the ack ({ok, sdp, type} or {ok:false, error}). */
  sendOffer(offer: { sdp: string; type: 'offer' }): Promise<{ ok: boolean; sdp?: string; type?: string; error?: { code: string; message: string } }>
  sendAnswer(answer: { sdp: string; type: 'answer' }): void
}

export class NegotiationError extends Error {
  constructor(
    public code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Resolve once ICE gathering completes (or after `timeoutMs`): aiortc does not trickle back. */
export function waitForGathering(pc: PeerLike, timeoutMs = 2500): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      pc.removeEventListener('icegatheringstatechange', check)
      resolve()
    }
    const check = () => {
      if (pc.iceGatheringState === 'complete') done()
    }
    const timer = setTimeout(done, timeoutMs)
    pc.addEventListener('icegatheringstatechange', check)
  })
}

export class Negotiator {
  private chain: Promise<unknown> = Promise.resolve()
  private offered = false
  closed = false
  /** Number of server offers answered (for diagnostics and tests). */
  answered = 0
  /** Whether ICE gathering finished before the offer went out (then no trickling is needed). */
  gatheredBeforeOffer = false
  /** Whether the client's own offer has been answered. */
  offerAnswered = false

  constructor(
    private pc: PeerLike,
    private sig: SignalingLike,
    private gatherTimeoutMs = 2500,
  ) {}

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op)
    this.chain = next.catch(() => undefined)
    return next
  }

  /** The client's one and only offer on this peer connection. */
  start(): Promise<void> {
    if (this.offered) return Promise.reject(new NegotiationError('already_offered', 'offer already sent'))
    this.offered = true
    return this.enqueue(async () => {
      const offer = await this.pc.createOffer()
      await this.pc.setLocalDescription(offer)
      await waitForGathering(this.pc, this.gatherTimeoutMs)
      this.gatheredBeforeOffer = this.pc.iceGatheringState === 'complete'
      const local = this.pc.localDescription || offer
      const ack = await this.sig.sendOffer({ sdp: local.sdp || '', type: 'offer' })
      if (this.closed) return
      if (!ack.ok || !ack.sdp) {
        throw new NegotiationError(ack.error?.code || 'negotiation_failed', ack.error?.message || 'no answer')
      }
      if (this.pc.signalingState !== 'have-local-offer') {
        // Rolled back by a server offer that arrived first; our offer is void.
        return
      }
      await this.pc.setRemoteDescription({ type: 'answer', sdp: ack.sdp })
      this.offerAnswered = true
    })
  }

  /** A server-initiated offer: apply (rolling back a pending local offer) and answer. */
  handleRemoteOffer(sdp: string): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return
      if (this.pc.signalingState === 'have-local-offer') {
        // Polite peer: the server's offer wins.
        await this.pc.setLocalDescription({ type: 'rollback' })
      }
      await this.pc.setRemoteDescription({ type: 'offer', sdp })
      const answer = await this.pc.createAnswer()
      await this.pc.setLocalDescription(answer)
      const local = this.pc.localDescription || answer
      if (this.closed) return
      this.sig.sendAnswer({ sdp: local.sdp || '', type: 'answer' })
      this.answered += 1
    })
  }

  /** Resolves when all queued operations have run. */
  idle(): Promise<void> {
    return this.chain.then(() => undefined)
  }
}
