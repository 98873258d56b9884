// What arrives from each publisher, read from getStats(): decoded video frames and received
// audio samples per participant. The inbound-rtp entries name their m-line (mid); the remote
// description's msid of that m-line names the publisher. A frozen tile still advances
// <video>.currentTime, so this is what tells whether someone's media really flows.
import { msidByMid, isParticipantId, publisherOfTrackId } from './trackIds'

export interface Received {
  /** framesDecoded summed over the publisher's video m-lines. */
  video: number
  /** totalSamplesReceived summed over the publisher's audio m-lines. */
  audio: number
}

interface StatLike {
  type: string
  [k: string]: unknown
}

type Report = Iterable<StatLike> | { forEach(cb: (s: StatLike) => void): void }

export function receivedByPublisher(report: Report, remoteSdp: string | null | undefined): Record<string, Received> {
  const msids = remoteSdp ? msidByMid(remoteSdp) : {}
  const out: Record<string, Received> = {}
  const visit = (r: StatLike) => {
    if (r.type !== 'inbound-rtp') return
    const mid = r.mid as string | undefined
    const m = mid !== undefined ? msids[mid] : undefined
    if (!m) return
    const pid = isParticipantId(m.streamId) ? m.streamId : publisherOfTrackId(m.trackId)
    if (!pid || !isParticipantId(pid)) return
    const entry = (out[pid] ||= { video: 0, audio: 0 })
    if (r.kind === 'video') entry.video += Number(r.framesDecoded || 0)
    else if (r.kind === 'audio') entry.audio += Number(r.totalSamplesReceived || 0)
  }
  if (typeof (report as { forEach?: unknown }).forEach === 'function') {
    ;(report as { forEach(cb: (s: StatLike) => void): void }).forEach(visit)
  } else {
    for (const r of report as Iterable<StatLike>) visit(r)
  }
  return out
}

export interface Flow {
  /** When this publisher's decoded video frames last increased (ms since epoch), or 0. */
  videoAt: number
  audioAt: number
}

/** Fold a new reading into the per-publisher flow times. */
export function updateFlow(
  flow: Record<string, Flow>,
  prev: Record<string, Received>,
  cur: Record<string, Received>,
  now: number,
): void {
  for (const [pid, r] of Object.entries(cur)) {
    const before = prev[pid]
    const f = (flow[pid] ||= { videoAt: 0, audioAt: 0 })
    if (r.video > (before?.video ?? 0)) f.videoAt = now
    if (r.audio > (before?.audio ?? 0)) f.audioAt = now
  }
}

/** Milliseconds without frames after which a tile says 无画面. */
export const NO_FRAMES_MS = 2000
