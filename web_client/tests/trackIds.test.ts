import { describe, expect, it } from 'vitest'
import { msidByMid, publisherOfTrackEvent, publisherOfTrackId } from '../src/lib/trackIds'

const A = 'a'.repeat(32)
const B = '0123456789abcdef0123456789abcdef'

describe('publisherOfTrackId (mirror of server publisher_of_track_id)', () => {
  it('reads the publisher from a forwarded track id', () => {
    expect(publisherOfTrackId(`${A}~video~1`)).toBe(A)
    expect(publisherOfTrackId(`${B}~audio~0`)).toBe(B)
  })
  it('returns null for foreign ids', () => {
    expect(publisherOfTrackId('7e7fecf1-4345-4f81-ad33-0a0e201797e1')).toBeNull()
    expect(publisherOfTrackId('x~y')).toBeNull()
  })
})

describe('publisherOfTrackEvent', () => {
  it('prefers the stream id (the publisher id)', () => {
    expect(publisherOfTrackEvent({ track: { id: 'random', kind: 'video' }, streams: [{ id: A }] })).toBe(A)
  })
  it('falls back to the track id', () => {
    expect(publisherOfTrackEvent({ track: { id: `${B}~video~3`, kind: 'video' }, streams: [] })).toBe(B)
  })
  it('falls back to the msid of the transceiver m-line', () => {
    const sdp = ['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', `a=msid:${A} ${A}~audio~0`, 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:1', `a=msid:- ${B}~video~1`].join('\r\n')
    expect(msidByMid(sdp)['1']).toEqual({ streamId: '-', trackId: `${B}~video~1` })
    expect(publisherOfTrackEvent({ track: { id: 'random', kind: 'video' }, streams: [], transceiver: { mid: '1' } }, sdp)).toBe(B)
    expect(publisherOfTrackEvent({ track: { id: 'random', kind: 'audio' }, streams: [], transceiver: { mid: '0' } }, sdp)).toBe(A)
  })
  it('returns null when nothing identifies the publisher', () => {
    expect(publisherOfTrackEvent({ track: { id: 'random', kind: 'video' }, streams: [{ id: 'x' }] })).toBeNull()
  })
})
