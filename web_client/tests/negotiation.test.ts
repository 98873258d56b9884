import { describe, expect, it } from 'vitest'
import { Negotiator, alignHeaderExtensionIds, type PeerLike, type SdpLike } from '../src/lib/negotiation'

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
    expect(sent[0]).toContain('a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid')
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

describe('alignHeaderExtensionIds', () => {
  const chromium = [
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=extmap:14 urn:ietf:params:rtp-hdrext:toffset',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  ].join('\r\n')

  it("uses the server's ids for mid, audio level and abs-send-time", () => {
    const out = alignHeaderExtensionIds(chromium)
    expect(out).toContain('a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid')
    expect(out).toContain('a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level')
    expect(out).toContain('a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time')
  })

  it('gives other extensions free ids, the same id for the same uri everywhere', () => {
    const out = alignHeaderExtensionIds(chromium)
    const ids = new Map<string, Set<string>>()
    for (const m of out.matchAll(/a=extmap:(\d+) (\S+)/g)) {
      if (!ids.has(m[2])) ids.set(m[2], new Set())
      ids.get(m[2])!.add(m[1])
    }
    for (const s of ids.values()) expect(s.size).toBe(1)
    const all = [...ids.values()].map((s) => [...s][0])
    expect(new Set(all).size).toBe(all.length)
    for (const id of all) expect(Number(id)).toBeLessThanOrEqual(14)
    expect(out.split('\r\n')).toHaveLength(chromium.split('\r\n').length)
  })
})
