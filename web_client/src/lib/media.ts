// Camera / microphone access with graceful fallback and clear error classes.

export type MediaProblem = 'denied' | 'no_device' | 'in_use' | 'insecure' | 'unsupported' | 'other'

export interface LocalMediaResult {
  stream: MediaStream | null
  audio: boolean
  video: boolean
  problem: MediaProblem | null
}

export function classifyMediaError(err: unknown): MediaProblem {
  const name = (err as { name?: string })?.name || ''
  if (name === 'NotAllowedError' || name === 'PermissionDeniedError' || name === 'SecurityError') return 'denied'
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') return 'no_device'
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') return 'in_use'
  return 'other'
}

export interface MediaChoice {
  audioDeviceId?: string
  videoDeviceId?: string
  wantAudio?: boolean
  wantVideo?: boolean
}

/** The microphone the court asks for (echo cancellation, noise suppression). */
export function audioConstraints(deviceId?: string): MediaTrackConstraints {
  return { deviceId: deviceId ? { exact: deviceId } : undefined, echoCancellation: true, noiseSuppression: true }
}

/** Whose steps to show for allowing the camera again (join.help.<platform>). */
export type HelpPlatform = 'android' | 'wechat' | 'ios' | 'desktop'
export function helpPlatform(ua: string = navigator.userAgent || '', touchPoints: number = navigator.maxTouchPoints): HelpPlatform {
  if (/MicroMessenger/i.test(ua)) return 'wechat'
  if (/iPhone|iPad|iPod/i.test(ua) || (/Macintosh/.test(ua) && touchPoints > 1)) return 'ios'
  if (/Android/i.test(ua)) return 'android'
  return 'desktop'
}

/** The camera the court asks for: 640x480 at up to 30 fps (what the forwarder is sized for). */
export function videoConstraints(deviceId?: string): MediaTrackConstraints {
  return { deviceId: deviceId ? { exact: deviceId } : undefined, width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } }
}

/**
 * Ask for camera + mic; fall back to mic only, then camera only; never throws. A refusal
 * does not end the fallbacks: a phone user who refused the camera but not the microphone
 * gets the microphone (and can join by voice), with the problem still reported as 'denied'.
 */
export async function getLocalMedia(choice: MediaChoice = {}): Promise<LocalMediaResult> {
  if (!window.isSecureContext) return { stream: null, audio: false, video: false, problem: 'insecure' }
  if (!navigator.mediaDevices?.getUserMedia) return { stream: null, audio: false, video: false, problem: 'unsupported' }
  const wantAudio = choice.wantAudio !== false
  const wantVideo = choice.wantVideo !== false
  const audio: MediaTrackConstraints | boolean = wantAudio ? audioConstraints(choice.audioDeviceId) : false
  const video: MediaTrackConstraints | boolean = wantVideo ? videoConstraints(choice.videoDeviceId) : false
  const attempts: [MediaTrackConstraints | boolean, MediaTrackConstraints | boolean][] = []
  if (audio && video) attempts.push([audio, video])
  if (audio) attempts.push([audio, false])
  if (video) attempts.push([false, video])
  let problem: MediaProblem | null = null
  for (const [a, v] of attempts) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: a, video: v })
      const hasA = stream.getAudioTracks().length > 0
      const hasV = stream.getVideoTracks().length > 0
      const partial = (wantAudio && !hasA) || (wantVideo && !hasV)
      return { stream, audio: hasA, video: hasV, problem: partial ? problem || 'no_device' : null }
    } catch (err) {
      const p = classifyMediaError(err)
      // Remember the most telling reason: "denied" wins over what later attempts say.
      if (problem === null || p === 'denied') problem = p
    }
  }
  return { stream: null, audio: false, video: false, problem: problem || 'no_device' }
}

export async function listDevices(): Promise<{ audio: MediaDeviceInfo[]; video: MediaDeviceInfo[] }> {
  try {
    const all = await navigator.mediaDevices.enumerateDevices()
    return {
      audio: all.filter((d) => d.kind === 'audioinput' && d.deviceId),
      video: all.filter((d) => d.kind === 'videoinput' && d.deviceId),
    }
  } catch {
    return { audio: [], video: [] }
  }
}

export function stopStream(stream: MediaStream | null | undefined): void {
  stream?.getTracks().forEach((t) => t.stop())
}

/** RMS level (0..1) of an audio stream, polled by the caller. */
export class LevelMeter {
  private ctx: AudioContext | null = null
  private analyser: AnalyserNode | null = null
  private buf: Float32Array | null = null

  constructor(stream: MediaStream) {
    try {
      if (!stream.getAudioTracks().length) return
      const Ctx = window.AudioContext || (window as unknown as { webkitAudioContext: typeof AudioContext }).webkitAudioContext
      this.ctx = new Ctx()
      const src = this.ctx.createMediaStreamSource(stream)
      this.analyser = this.ctx.createAnalyser()
      this.analyser.fftSize = 512
      src.connect(this.analyser)
      this.buf = new Float32Array(this.analyser.fftSize)
      void this.ctx.resume().catch(() => undefined)
    } catch {
      this.ctx = null
    }
  }

  level(): number {
    if (!this.analyser || !this.buf) return 0
    this.analyser.getFloatTimeDomainData(this.buf as Float32Array<ArrayBuffer>)
    let sum = 0
    for (const v of this.buf) sum += v * v
    const rms = Math.sqrt(sum / this.buf.length)
    return Math.min(1, rms * 4)
  }

  close(): void {
    void this.ctx?.close().catch(() => undefined)
    this.ctx = null
  }
}
