// One master clock for the records player: every participant's file sits at its own offset on
// the session timeline; at session time t a file shows its frame at t - offset_s.

export interface TimedTrack {
  offset_s: number
  duration_s: number
}

export interface TrackPosition {
  /** Whether the file has a frame at this session time. */
  active: boolean
  /** Where the element should be (clamped into the file). */
  time: number
}

export function positionIn(track: TimedTrack, t: number): TrackPosition {
  const local = t - track.offset_s
  if (local < 0) return { active: false, time: 0 }
  if (local > track.duration_s) return { active: false, time: Math.max(0, track.duration_s) }
  return { active: true, time: local }
}

/** Whether an element drifted far enough from the clock to be re-seeked. */
export function needsSeek(elementTime: number, wanted: number, tolerance = 0.35): boolean {
  return Math.abs(elementTime - wanted) > tolerance
}

/** Timeline length: the end of the latest track (or the given session duration if longer). */
export function timelineDuration(tracks: TimedTrack[], sessionDuration = 0): number {
  return tracks.reduce((m, tr) => Math.max(m, tr.offset_s + tr.duration_s), sessionDuration)
}

export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const mm = String(m).padStart(2, '0')
  const ss = String(sec).padStart(2, '0')
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`
}

/**
 * The master clock: playing advances with wall time × rate; seeking sets it; it stops at the end.
 * `now` is injectable for tests.
 */
export class MasterClock {
  private base = 0
  private startedAt: number | null = null

  constructor(
    public duration: number,
    public rate = 1,
    private now: () => number = () => performance.now() / 1000,
  ) {}

  get playing(): boolean {
    return this.startedAt !== null
  }

  time(): number {
    if (this.startedAt === null) return this.base
    const t = this.base + (this.now() - this.startedAt) * this.rate
    if (t >= this.duration) {
      this.base = this.duration
      this.startedAt = null
      return this.duration
    }
    return t
  }

  play(): void {
    if (this.startedAt !== null) return
    if (this.base >= this.duration) this.base = 0
    this.startedAt = this.now()
  }

  pause(): void {
    this.base = this.time()
    this.startedAt = null
  }

  seek(t: number): void {
    const playing = this.startedAt !== null
    this.base = Math.min(Math.max(0, t), this.duration)
    this.startedAt = playing ? this.now() : null
  }

  setRate(rate: number): void {
    const t = this.time()
    this.rate = rate
    this.seek(t)
  }
}
