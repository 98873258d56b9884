import { describe, expect, it } from 'vitest'
import { receivedByPublisher, updateFlow, type Flow } from '../src/lib/mediaFlow'

const A = 'a'.repeat(32)
const B = '0123456789abcdef0123456789abcdef'
const SDP = [
  'v=0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:2', `a=msid:${A} ${A}~audio~1.0`,
  'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:3', `a=msid:${A} ${A}~video~1.1`,
  'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:4', `a=msid:${B} ${B}~audio~1.0`,
  'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:5', `a=msid:- ${B}~video~2.1`,
].join('\r\n')

describe('receivedByPublisher', () => {
  it('maps inbound-rtp by mid to the publisher and sums each kind', () => {
    const stats = [
      { type: 'inbound-rtp', kind: 'audio', mid: '2', totalSamplesReceived: 4800 },
      { type: 'inbound-rtp', kind: 'video', mid: '3', framesDecoded: 30 },
      { type: 'inbound-rtp', kind: 'video', mid: '5', framesDecoded: 7 },
      { type: 'inbound-rtp', kind: 'video', mid: '9', framesDecoded: 99 }, // unknown m-line
      { type: 'candidate-pair', mid: '3' },
    ]
    expect(receivedByPublisher(stats, SDP)).toEqual({
      [A]: { video: 30, audio: 4800 },
      [B]: { video: 7, audio: 0 },
    })
  })
  it('is empty without a remote description', () => {
    expect(receivedByPublisher([{ type: 'inbound-rtp', kind: 'video', mid: '3', framesDecoded: 1 }], null)).toEqual({})
  })
})

describe('updateFlow', () => {
  it('moves a publisher time forward only when its counters grow', () => {
    const flow: Record<string, Flow> = {}
    updateFlow(flow, {}, { [A]: { video: 5, audio: 0 } }, 1000)
    expect(flow[A]).toEqual({ videoAt: 1000, audioAt: 0 })
    updateFlow(flow, { [A]: { video: 5, audio: 0 } }, { [A]: { video: 5, audio: 10 } }, 2000)
    expect(flow[A]).toEqual({ videoAt: 1000, audioAt: 2000 })
  })
})
