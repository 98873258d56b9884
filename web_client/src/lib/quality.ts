// Connection quality from RTCPeerConnection.getStats(): round-trip time and packet loss.

export type Quality = 'good' | 'fair' | 'poor' | 'unknown'

export interface StatsSample {
  rttMs: number | null
  packetsReceived: number
  packetsLost: number
  framesDecoded: number
  at: number
}

interface StatLike {
  type: string
  [k: string]: unknown
}

export function sampleStats(report: Iterable<StatLike> | { forEach(cb: (s: StatLike) => void): void }, at = Date.now()): StatsSample {
  const s: StatsSample = { rttMs: null, packetsReceived: 0, packetsLost: 0, framesDecoded: 0, at }
  const visit = (r: StatLike) => {
    if (r.type === 'candidate-pair' && (r.nominated || r.state === 'succeeded') && typeof r.currentRoundTripTime === 'number') {
      s.rttMs = Math.max(s.rttMs ?? 0, (r.currentRoundTripTime as number) * 1000)
    } else if (r.type === 'inbound-rtp') {
      s.packetsReceived += Number(r.packetsReceived || 0)
      s.packetsLost += Math.max(0, Number(r.packetsLost || 0))
      s.framesDecoded += Number(r.framesDecoded || 0)
    } else if (r.type === 'remote-inbound-rtp' && typeof r.roundTripTime === 'number' && s.rttMs === null) {
      s.rttMs = (r.roundTripTime as number) * 1000
    }
  }
  if (typeof (report as { forEach?: unknown }).forEach === 'function') {
    ;(report as { forEach(cb: (s: StatLike) => void): void }).forEach(visit)
  } else {
    for (const r of report as Iterable<StatLike>) visit(r)
  }
  return s
}

/** Quality between two samples: loss over the interval and the latest RTT. */
export function qualityBetween(prev: StatsSample | null, cur: StatsSample): Quality {
  let loss = 0
  if (prev) {
    const rec = cur.packetsReceived - prev.packetsReceived
    const lost = cur.packetsLost - prev.packetsLost
    const total = rec + Math.max(0, lost)
    loss = total > 0 ? Math.max(0, lost) / total : 0
  }
  const rtt = cur.rttMs
  if (rtt === null && !prev) return 'unknown'
  if (loss > 0.08 || (rtt !== null && rtt > 600)) return 'poor'
  if (loss > 0.02 || (rtt !== null && rtt > 250)) return 'fair'
  return 'good'
}
