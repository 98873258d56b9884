import { afterEach, describe, expect, it, vi } from 'vitest'
import { getLocalMedia } from '../src/lib/media'

type Constraints = { audio: unknown; video: unknown }

function fakeStream(c: Constraints) {
  const tracks = [...(c.audio ? [{ kind: 'audio' }] : []), ...(c.video ? [{ kind: 'video' }] : [])]
  return {
    getAudioTracks: () => tracks.filter((t) => t.kind === 'audio'),
    getVideoTracks: () => tracks.filter((t) => t.kind === 'video'),
  }
}

/** A browser whose getUserMedia refuses what `refuse` says. */
function browser(refuse: (c: Constraints) => string | null) {
  const calls: Constraints[] = []
  vi.stubGlobal('window', { isSecureContext: true })
  vi.stubGlobal('navigator', {
    mediaDevices: {
      getUserMedia: async (c: Constraints) => {
        calls.push(c)
        const name = refuse(c)
        if (name) throw Object.assign(new Error(name), { name })
        return fakeStream(c)
      },
    },
  })
  return calls
}

afterEach(() => vi.unstubAllGlobals())

describe('getLocalMedia', () => {
  it('gives camera and microphone when both are allowed', async () => {
    browser(() => null)
    const r = await getLocalMedia()
    expect([r.audio, r.video, r.problem]).toEqual([true, true, null])
  })
  it('keeps the microphone when only the camera is refused (a phone user can join by voice)', async () => {
    const calls = browser((c) => (c.video ? 'NotAllowedError' : null))
    const r = await getLocalMedia()
    expect([r.audio, r.video, r.problem]).toEqual([true, false, 'denied'])
    expect(calls.map((c) => [!!c.audio, !!c.video])).toEqual([
      [true, true],
      [true, false],
    ])
  })
  it('reports a refusal of both as denied, with no stream', async () => {
    browser(() => 'NotAllowedError')
    const r = await getLocalMedia()
    expect([r.stream, r.problem]).toEqual([null, 'denied'])
  })
  it('falls back to the camera alone when there is no microphone', async () => {
    browser((c) => (c.audio ? 'NotFoundError' : null))
    const r = await getLocalMedia()
    expect([r.audio, r.video, r.problem]).toEqual([false, true, 'no_device'])
  })
})
