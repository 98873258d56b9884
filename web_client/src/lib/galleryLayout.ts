/**
 * The room's gallery: how n video tiles share a box (the grid area between the status line, the
 * toolbar and the side panels) so that every tile is fully visible and as large as possible.
 *
 * Same idea as the gallery views of Zoom, Meet and LiveKit: try every column count, take the
 * one whose tiles (at a fixed aspect ratio) come out largest, centre the block of rows in the
 * box and centre an incomplete last row.
 */

export interface GalleryOptions {
  /** Space between tiles, px (the CSS gap of the grid). */
  gap?: number
  /** Tile width / height. */
  aspect?: number
}

export interface GalleryLayout {
  cols: number
  rows: number
  /** Tile size in whole px, so that cols tiles and their gaps never exceed the box. */
  tileWidth: number
  tileHeight: number
  /** Width of a full row: cols tiles and the gaps between them. */
  rowWidth: number
  /** Height of all rows and the gaps between them. */
  blockHeight: number
}

export interface TileRect {
  x: number
  y: number
  width: number
  height: number
}

export const GALLERY_GAP = 8
export const GALLERY_ASPECT = 16 / 9

function sized(n: number, cols: number, width: number, height: number, gap: number, aspect: number): GalleryLayout {
  const rows = Math.ceil(n / cols)
  const byWidth = (width - (cols - 1) * gap) / cols
  const byHeight = ((height - (rows - 1) * gap) / rows) * aspect
  // Whole pixels, rounded down: the browser lays out exactly what was computed, never 1 px over.
  let tileWidth = Math.max(0, Math.floor(Math.min(byWidth, byHeight)))
  let tileHeight = Math.floor(tileWidth / aspect)
  if (tileHeight <= 0) tileWidth = tileHeight = 0
  return {
    cols,
    rows,
    tileWidth,
    tileHeight,
    rowWidth: cols * tileWidth + (cols - 1) * gap,
    blockHeight: rows * tileHeight + (rows - 1) * gap,
  }
}

/** The columns × rows that give n tiles the largest size inside a width × height box. */
export function galleryLayout(n: number, width: number, height: number, opts: GalleryOptions = {}): GalleryLayout {
  const gap = opts.gap ?? GALLERY_GAP
  const aspect = opts.aspect ?? GALLERY_ASPECT
  const count = Math.max(1, Math.floor(n) || 1)
  const w = Math.max(0, width)
  const h = Math.max(0, height)
  let best = sized(count, 1, w, h, gap, aspect)
  for (let cols = 2; cols <= count; cols++) {
    const rows = Math.ceil(count / cols)
    // A column count that leaves a whole column empty only repeats a smaller one.
    if ((cols - 1) * rows >= count) continue
    const next = sized(count, cols, w, h, gap, aspect)
    // Strictly larger: on a tie the fewer columns win (taller rows read better than a strip).
    if (next.tileWidth > best.tileWidth) best = next
  }
  return best
}

/** Where each tile goes inside the box (top-left origin): rows centred vertically, every row
 * centred horizontally, the last one too when it is not full. */
export function galleryTiles(n: number, width: number, height: number, opts: GalleryOptions = {}): TileRect[] {
  const gap = opts.gap ?? GALLERY_GAP
  const count = Math.max(1, Math.floor(n) || 1)
  const g = galleryLayout(count, width, height, opts)
  const top = (Math.max(0, height) - g.blockHeight) / 2
  const out: TileRect[] = []
  for (let row = 0; row < g.rows; row++) {
    const inRow = Math.min(g.cols, count - row * g.cols)
    const left = (Math.max(0, width) - (inRow * g.tileWidth + (inRow - 1) * gap)) / 2
    for (let col = 0; col < inRow; col++) {
      out.push({
        x: left + col * (g.tileWidth + gap),
        y: top + row * (g.tileHeight + gap),
        width: g.tileWidth,
        height: g.tileHeight,
      })
    }
  }
  return out
}
