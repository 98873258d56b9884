// The server forwards each publisher's tracks with msid "<publisher_id> <publisher_id>~<kind>~<incarnation>.<mid>"
// (server/rtc/publication.py published_track_id, server/rtc/aiortc_seam/sender.py set_sender_stream_id).

export const TRACK_ID_SEPARATOR = '~'
const PID_RE = /^[0-9a-f]{32}$/

export function isParticipantId(s: string | undefined | null): s is string {
  return !!s && PID_RE.test(s)
}

/** Mirror of publisher_of_track_id: the publisher encoded in a forwarded track id, or null. */
export function publisherOfTrackId(trackId: string): string | null {
  const parts = trackId.split(TRACK_ID_SEPARATOR)
  if (parts.length < 3) return null
  const pid = parts.slice(0, parts.length - 2).join(TRACK_ID_SEPARATOR)
  return pid || null
}

/** msid lines of an SDP, by mid: { mid: { streamId, trackId } }. */
export function msidByMid(sdp: string): Record<string, { streamId: string; trackId: string }> {
  const out: Record<string, { streamId: string; trackId: string }> = {}
  const sections = sdp.split(/\r?\nm=/).slice(1)
  for (const section of sections) {
    const mid = /\na=mid:(\S+)/.exec('\n' + section)?.[1]
    const msid = /\na=msid:(\S+)\s+(\S+)/.exec('\n' + section)
    if (mid && msid) out[mid] = { streamId: msid[1], trackId: msid[2] }
  }
  return out
}

export interface TrackEventLike {
  track: { id: string; kind: string }
  streams?: readonly { id: string }[]
  transceiver?: { mid: string | null } | null
}

/**
 * Which participant published a remote track: the stream id (the publisher's id), then the
 * track id, then the msid of the transceiver's m-line in the remote description.
 */
export function publisherOfTrackEvent(ev: TrackEventLike, remoteSdp?: string | null): string | null {
  for (const s of ev.streams || []) if (isParticipantId(s.id)) return s.id
  const fromTrack = publisherOfTrackId(ev.track.id)
  if (isParticipantId(fromTrack)) return fromTrack
  const mid = ev.transceiver?.mid
  if (mid && remoteSdp) {
    const m = msidByMid(remoteSdp)[mid]
    if (m) {
      if (isParticipantId(m.streamId)) return m.streamId
      const p = publisherOfTrackId(m.trackId)
      if (isParticipantId(p)) return p
    }
  }
  return null
}
