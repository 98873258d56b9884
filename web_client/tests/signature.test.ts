import { describe, expect, it } from 'vitest'
import { MAX_SIGNATURE_BYTES, dataUrlBytes, exportSignature, exportSize, isSignatureDrawn, strokesBox, type CanvasLike, type Stroke } from '../src/lib/signature'

/** A canvas stand-in: records drawing calls; toDataURL returns a PNG data URL of a chosen size. */
function fakeCanvas(bytesFor: (w: number, h: number) => number): CanvasLike & { calls: string[] } {
  const calls: string[] = []
  const ctx = new Proxy(
    {},
    {
      get: (_t, name) => (typeof name === 'string' && ['lineCap', 'lineJoin', 'strokeStyle', 'lineWidth'].includes(name) ? undefined : (...args: unknown[]) => calls.push(`${String(name)}(${args.join(',')})`)),
      set: () => true,
    },
  ) as unknown as CanvasRenderingContext2D
  const c = {
    width: 0,
    height: 0,
    calls,
    getContext: () => ctx,
    toDataURL(type?: string) {
      expect(type).toBe('image/png')
      const n = bytesFor(c.width, c.height)
      // 89 50 4E 47 … : the PNG magic, then filler, base64-encoded.
      const bytes = new Uint8Array(n)
      bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
      return 'data:image/png;base64,' + Buffer.from(bytes).toString('base64')
    },
  }
  return c
}

const zigzag: Stroke[] = [
  [
    { x: 10, y: 40 },
    { x: 60, y: 10 },
    { x: 110, y: 70 },
    { x: 160, y: 20 },
  ],
  [
    { x: 30, y: 90 },
    { x: 200, y: 95 },
  ],
]

describe('signature export', () => {
  it('crops to the drawing with padding', () => {
    expect(strokesBox(zigzag, 8)).toEqual({ x: 2, y: 2, w: 206, h: 101 })
    expect(strokesBox([])).toBeNull()
  })
  it('tells a signature from a dot', () => {
    expect(isSignatureDrawn(zigzag)).toBe(true)
    expect(isSignatureDrawn([[{ x: 5, y: 5 }]])).toBe(false)
    expect(isSignatureDrawn([])).toBe(false)
  })
  it('scales down to fit, never up, and keeps the minimum size', () => {
    expect(exportSize({ x: 0, y: 0, w: 1200, h: 200 }, 600, 200)).toMatchObject({ w: 600, h: 100, scale: 0.5 })
    expect(exportSize({ x: 0, y: 0, w: 100, h: 50 })).toMatchObject({ w: 100, h: 50, scale: 1 })
    expect(exportSize({ x: 0, y: 0, w: 5, h: 3 })).toMatchObject({ w: 20, h: 10 })
  })
  it('produces a PNG data URL of the cropped drawing', () => {
    const canvas = fakeCanvas(() => 2000)
    const url = exportSignature(zigzag, canvas)
    expect(url?.startsWith('data:image/png;base64,')).toBe(true)
    expect(dataUrlBytes(url!)).toBe(2000)
    expect([canvas.width, canvas.height]).toEqual([206, 101])
    expect(canvas.calls.filter((c) => c.startsWith('stroke(')).length).toBe(2)
    expect(canvas.calls).toContain('translate(-2,-2)')
  })
  it('shrinks until the PNG fits 48 KB', () => {
    const canvas = fakeCanvas((w, h) => w * h) // bytes grow with the area
    const big: Stroke[] = [[{ x: 0, y: 0 }, { x: 590, y: 190 }, { x: 10, y: 100 }]]
    const url = exportSignature(big, canvas)
    expect(url).not.toBeNull()
    expect(dataUrlBytes(url!)).toBeLessThanOrEqual(MAX_SIGNATURE_BYTES)
    expect(canvas.width).toBeLessThan(600)
  })
  it('returns null for an empty pad', () => {
    expect(exportSignature([], fakeCanvas(() => 10))).toBeNull()
  })
})
