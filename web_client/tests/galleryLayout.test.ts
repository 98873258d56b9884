import { describe, expect, it } from 'vitest'
import { GALLERY_ASPECT, GALLERY_GAP, galleryLayout, galleryTiles, type TileRect } from '../src/lib/galleryLayout'

// Grid areas as the room measures them: the judge's console at 1366×768 (next to the mediator's
// panel), a party's page at 1366×768, the kiosk at 1280×900, a phone held upright and sideways.
const BOXES: Record<string, [number, number]> = {
  'console 1366×768': [800, 580],
  'party page 1366×768': [1172, 560],
  'kiosk 1280×900': [1252, 640],
  'phone upright': [360, 560],
  'phone sideways': [740, 300],
}

function overlaps(a: TileRect, b: TileRect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

/** The largest tile width any columns × rows arrangement allows (no rounding, no shortcut). */
function bestPossibleWidth(n: number, w: number, h: number): number {
  let best = 0
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols)
    const width = Math.min((w - (cols - 1) * GALLERY_GAP) / cols, ((h - (rows - 1) * GALLERY_GAP) / rows) * GALLERY_ASPECT)
    best = Math.max(best, width)
  }
  return best
}

describe('gallery layout', () => {
  for (const [name, [w, h]] of Object.entries(BOXES)) {
    for (let n = 1; n <= 8; n++) {
      it(`${n} tile(s) in the ${name} box: all inside, none overlapping, the largest size`, () => {
        const tiles = galleryTiles(n, w, h)
        expect(tiles).toHaveLength(n)
        for (const t of tiles) {
          expect(t.width).toBeGreaterThan(0)
          expect(t.x).toBeGreaterThanOrEqual(0)
          expect(t.y).toBeGreaterThanOrEqual(0)
          expect(t.x + t.width).toBeLessThanOrEqual(w)
          expect(t.y + t.height).toBeLessThanOrEqual(h)
          // 16:9, up to the pixel the rounding down takes.
          expect(Math.abs(t.width / GALLERY_ASPECT - t.height)).toBeLessThanOrEqual(1)
        }
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(overlaps(tiles[i], tiles[j])).toBe(false)
        // No other arrangement gives a tile more than the pixel lost to whole-pixel sizes.
        expect(tiles[0].width).toBeGreaterThan(bestPossibleWidth(n, w, h) - 1)
        const g = galleryLayout(n, w, h)
        expect(g.rowWidth).toBeLessThanOrEqual(w)
        expect(g.blockHeight).toBeLessThanOrEqual(h)
        expect(g.cols * g.rows).toBeGreaterThanOrEqual(n)
        expect((g.cols - 1) * g.rows).toBeLessThan(n)
      })
    }
  }

  it('puts 3 tiles of the console as 2 + 1, the last one centred', () => {
    const g = galleryLayout(3, 800, 580)
    expect([g.cols, g.rows]).toEqual([2, 2])
    const tiles = galleryTiles(3, 800, 580)
    expect(tiles[2].x + tiles[2].width / 2).toBeCloseTo(400, 5)
    expect(tiles[0].y).toBe(tiles[1].y)
    expect(tiles[2].y).toBeGreaterThan(tiles[0].y + tiles[0].height)
  })

  it('puts 8 tiles of the console in 3 columns, centred in the box', () => {
    const g = galleryLayout(8, 800, 580)
    expect([g.cols, g.rows]).toEqual([3, 3])
    const tiles = galleryTiles(8, 800, 580)
    const top = tiles[0].y
    const bottom = tiles[7].y + tiles[7].height
    expect(top).toBeCloseTo(580 - bottom, 5)
  })

  it('lays a wide, low box out in one row', () => {
    expect(galleryLayout(4, 1600, 200).rows).toBe(1)
  })

  it('stays inside the box beyond eight and in degenerate boxes', () => {
    for (const n of [9, 12, 16, 25]) {
      const tiles = galleryTiles(n, 800, 580)
      expect(tiles).toHaveLength(n)
      for (const t of tiles) expect(t.x + t.width <= 800 && t.y + t.height <= 580).toBe(true)
    }
    expect(galleryLayout(0, 800, 580).cols).toBe(1)
    const none = galleryLayout(3, 0, 0)
    expect([none.tileWidth, none.tileHeight]).toEqual([0, 0])
    expect(galleryTiles(2, -5, 100)).toHaveLength(2)
  })
})
