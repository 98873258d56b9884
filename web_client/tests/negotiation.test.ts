import { describe, expect, it } from 'vitest'
import { Negotiator, type PeerLike, type SdpLike } from '../src/lib/negotiation'

class FakePeer implements PeerLike {
  signalingState: RTCSignalingState = 'stable'
  iceGatheringState: RTCIceGatheringState = 'complete'
  localDescription: SdpLike | null = null
  remoteDescription: SdpLike | null = null
  log: string[] = []
  async createOffer(): Promise<SdpLike> {
    return { type: 'offer', sdp: 'v=0\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n' }
  }
  async createAnswer(): Promise<SdpLike> {
    return { type: 'answer', sdp: 'answer-sdp' }
  }
  async setLocalDescription(d?: SdpLike): Promise<void> {
    this.log.push('local:' + d?.type)
    if (d?.type === 'rollback') {
      this.signalingState = 'stable'
      this.localDescription = null
      return
    }
    this.localDescription = d || null
    this.signalingState = d?.type === 'offer' ? 'have-local-offer' : 'stable'
  }
  async setRemoteDescription(d: SdpLike): Promise<void> {
    this.log.push('remote:' + d.type)
    if (d.type === 'offer' && this.signalingState !== 'stable') throw new Error('glare without rollback')
    this.remoteDescription = d
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable'
  }
  addEventListener(): void {}
  removeEventListener(): void {}
}

function deferred<T>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

describe('Negotiator', () => {
  it('sends one offer and applies the answer from the ack', async () => {
    const pc = new FakePeer()
    const sent: string[] = []
    const n = new Negotiator(pc, {
      sendOffer: async (o) => {
        sent.push(o.sdp)
        return { ok: true, sdp: 'server-answer', type: 'answer' }
      },
      sendAnswer: () => undefined,
    })
    await n.start()
    expect(sent).toHaveLength(1)
    expect(sent[0]).toContain('a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid') // sent as created, unmunged
    expect(pc.signalingState).toBe('stable')
    expect(pc.remoteDescription?.sdp).toBe('server-answer')
    expect(n.offerAnswered).toBe(true)
    await expect(n.start()).rejects.toThrow()
  })

  it('queues a server offer that arrives before the ack of its own offer', async () => {
    const pc = new FakePeer()
    const ack = deferred<{ ok: boolean; sdp: string; type: string }>()
    const answers: string[] = []
    const n = new Negotiator(pc, { sendOffer: () => ack.promise, sendAnswer: (a) => answers.push(a.sdp) })
    const started = n.start()
    await new Promise((r) => setTimeout(r, 0))
    const remote = n.handleRemoteOffer('server-offer')
    await new Promise((r) => setTimeout(r, 0))
    expect(answers).toHaveLength(0) // still waiting for our own answer
    ack.resolve({ ok: true, sdp: 'server-answer', type: 'answer' })
    await started
    await remote
    expect(pc.log).toEqual(['local:offer', 'remote:answer', 'remote:offer', 'local:answer'])
    expect(answers).toEqual(['answer-sdp'])
    expect(n.answered).toBe(1)
  })

  it('rolls back a pending local offer when a server offer must win (polite peer)', async () => {
    const pc = new FakePeer()
    await pc.setLocalDescription({ type: 'offer', sdp: 'x' })
    const answers: string[] = []
    const n = new Negotiator(pc, { sendOffer: async () => ({ ok: true }), sendAnswer: (a) => answers.push(a.sdp) })
    await n.handleRemoteOffer('server-offer')
    expect(pc.log).toEqual(['local:offer', 'local:rollback', 'remote:offer', 'local:answer'])
    expect(answers).toEqual(['answer-sdp'])
  })

  it('reports a refused offer and keeps answering later server offers', async () => {
    const pc = new FakePeer()
    const n = new Negotiator(pc, {
      sendOffer: async () => ({ ok: false, error: { code: 'not_admitted', message: 'wait' } }),
      sendAnswer: () => undefined,
    })
    await expect(n.start()).rejects.toMatchObject({ code: 'not_admitted' })
    pc.signalingState = 'stable'
    await n.handleRemoteOffer('server-offer')
    expect(n.answered).toBe(1)
  })

  it('does nothing after close', async () => {
    const pc = new FakePeer()
    const answers: string[] = []
    const n = new Negotiator(pc, { sendOffer: async () => ({ ok: true, sdp: 'a' }), sendAnswer: (a) => answers.push(a.sdp) })
    n.closed = true
    await n.handleRemoteOffer('server-offer')
    expect(answers).toEqual([])
  })
})
