import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import zh from '../src/locales/zh-CN.json'
import en from '../src/locales/en.json'

function keys(obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v && typeof v === 'object' ? keys(v as Record<string, unknown>, prefix + k + '.') : [prefix + k],
  )
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    if (statSync(p).isDirectory()) return sources(p)
    return /\.(vue|ts)$/.test(f) ? [p] : []
  })
}

describe('i18n messages', () => {
  const zhKeys = keys(zh)
  const enKeys = new Set(keys(en))

  it('has every zh-CN key in English too', () => {
    expect(zhKeys.filter((k) => !enKeys.has(k))).toEqual([])
  })
  it('has no English-only keys', () => {
    const zhSet = new Set(zhKeys)
    expect([...enKeys].filter((k) => !zhSet.has(k))).toEqual([])
  })
  it('uses the same placeholders in both languages', () => {
    const get = (o: unknown, k: string) => k.split('.').reduce((a: any, p) => a?.[p], o) as string
    for (const k of zhKeys) {
      const ph = (s: string) => (s.match(/\{\w+\}/g) || []).sort().join()
      expect(ph(get(en, k)), k).toBe(ph(get(zh, k)))
    }
  })
  it('defines every static key used by the source', () => {
    const zhSet = new Set(zhKeys)
    const missing: string[] = []
    for (const file of sources(join(__dirname, '../src'))) {
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/(?<![\w.])\$?t\(\s*'([\w.]+)'/g)) {
        const k = m[1]
        // 'room.' + reason: a dynamic key under a prefix that must exist.
        const ok = k.endsWith('.') ? zhKeys.some((z) => z.startsWith(k)) : zhSet.has(k)
        if (!ok) missing.push(`${file}: ${k}`)
      }
    }
    expect(missing).toEqual([])
  })
  it('has the mandated Chinese texts', () => {
    expect(zh.errors.deadLink).toBe('链接已失效，请联系书记员')
    expect(zh.lobby.title).toBe('等待调解员准许进入')
    expect(zh.room.recording).toBe('● 录制中')
    expect(zh.room.reconnecting).toBe('重新连接中…')
    expect(zh.outcome).toEqual({ settled: '调解成功', failed: '调解不成', partial: '部分达成' })
  })
})
