// Handwritten signature: strokes captured from pointer events (mouse, touch, pen), rendered on
// a canvas and exported as the PNG data URL the server expects (agreement_sign.signature_png:
// "data:image/png;base64,…", ≤ 48 KB decoded, at least 20×10 px).

export interface Point {
  x: number
  y: number
}
export type Stroke = Point[]

export const MAX_SIGNATURE_BYTES = 48 * 1024
export const MIN_W = 20
export const MIN_H = 10

export interface Box {
  x: number
  y: number
  w: number
  h: number
}

/** Bounding box of all strokes, padded; null when nothing was drawn. */
export function strokesBox(strokes: Stroke[], pad = 8): Box | null {
  let minX = Infinity
  let minY = Infinity
  let maxX = -Infinity
  let maxY = -Infinity
  for (const s of strokes)
    for (const p of s) {
      minX = Math.min(minX, p.x)
      minY = Math.min(minY, p.y)
      maxX = Math.max(maxX, p.x)
      maxY = Math.max(maxY, p.y)
    }
  if (!isFinite(minX)) return null
  return { x: minX - pad, y: minY - pad, w: maxX - minX + 2 * pad, h: maxY - minY + 2 * pad }
}

/** Whether the drawing is substantial enough to count as a signature (not a dot or a slip). */
export function isSignatureDrawn(strokes: Stroke[], minExtent = 12, minPoints = 5): boolean {
  const points = strokes.reduce((n, s) => n + s.length, 0)
  const box = strokesBox(strokes, 0)
  return !!box && points >= minPoints && Math.max(box.w, box.h) >= minExtent
}

/** Output size: the drawing's box scaled to fit maxW×maxH (never up-scaled), at least MIN_W×MIN_H. */
export function exportSize(box: Box, maxW = 600, maxH = 200): { w: number; h: number; scale: number } {
  const scale = Math.min(1, maxW / box.w, maxH / box.h)
  return { w: Math.max(MIN_W, Math.round(box.w * scale)), h: Math.max(MIN_H, Math.round(box.h * scale)), scale }
}

export function dataUrlBytes(dataUrl: string): number {
  const b64 = dataUrl.slice(dataUrl.indexOf(',') + 1)
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0
  return Math.floor((b64.length * 3) / 4) - padding
}

export interface CanvasLike {
  width: number
  height: number
  getContext(kind: '2d'): CanvasRenderingContext2D | null
  toDataURL(type?: string): string
}

/** Draw strokes into a context (translated by the box origin, scaled). */
export function drawStrokes(ctx: CanvasRenderingContext2D, strokes: Stroke[], box: Box | null, scale = 1, lineWidth = 3): void {
  ctx.save()
  ctx.lineCap = 'round'
  ctx.lineJoin = 'round'
  ctx.strokeStyle = '#111'
  ctx.lineWidth = Math.max(1.5, lineWidth * scale)
  if (box) {
    ctx.scale(scale, scale)
    ctx.translate(-box.x, -box.y)
  }
  for (const s of strokes) {
    if (!s.length) continue
    ctx.beginPath()
    ctx.moveTo(s[0].x, s[0].y)
    if (s.length === 1) ctx.lineTo(s[0].x + 0.1, s[0].y + 0.1)
    for (let i = 1; i < s.length; i++) ctx.lineTo(s[i].x, s[i].y)
    ctx.stroke()
  }
  ctx.restore()
}

/**
 * Render the strokes, cropped to the drawing, onto `canvas` (transparent background) and return
 * the PNG data URL; shrinks until it fits MAX_SIGNATURE_BYTES. Null when nothing is drawn.
 */
export function exportSignature(strokes: Stroke[], canvas: CanvasLike, maxW = 600, maxH = 200): string | null {
  const box = strokesBox(strokes)
  if (!box) return null
  let limitW = maxW
  let limitH = maxH
  for (let attempt = 0; attempt < 6; attempt++) {
    const { w, h, scale } = exportSize(box, limitW, limitH)
    canvas.width = w
    canvas.height = h
    const ctx = canvas.getContext('2d')
    if (!ctx) return null
    ctx.clearRect(0, 0, w, h)
    drawStrokes(ctx, strokes, box, scale)
    const url = canvas.toDataURL('image/png')
    if (!url.startsWith('data:image/png;base64,')) return null
    if (dataUrlBytes(url) <= MAX_SIGNATURE_BYTES) return url
    limitW = Math.round(limitW * 0.7)
    limitH = Math.round(limitH * 0.7)
  }
  return null
}
