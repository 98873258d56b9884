import { describe, expect, it } from 'vitest'
import { appendIdX, idCheckChar, idNumberProblem, isValidIdNumber, maskIdNumber, normalizeIdNumber, sanitizeIdInput } from '../src/lib/idNumber'

describe('resident ID numbers (GB 11643)', () => {
  it('computes the check character', () => {
    // The standard's own example: 11010519491231002X.
    expect(idCheckChar('11010519491231002')).toBe('X')
    expect(idCheckChar('44052418800101001')).toBe('4')
  })
  it('accepts valid numbers, lower-case x included, with spaces around', () => {
    expect(isValidIdNumber('11010519491231002X')).toBe(true)
    expect(isValidIdNumber('11010519491231002x')).toBe(true)
    expect(isValidIdNumber(' 440524188001010014 ')).toBe(true)
    expect(normalizeIdNumber('11010519491231002x')).toBe('11010519491231002X')
  })
  it('names the problem precisely', () => {
    expect(idNumberProblem('')).toBe('empty')
    expect(idNumberProblem('1101051949123100')).toBe('length')
    expect(idNumberProblem('1101051949123100AX')).toBe('chars')
    expect(idNumberProblem('110105194902300021')).toBe('date') // 30 February
    expect(idNumberProblem('110105194912310021')).toBe('checksum')
    expect(idNumberProblem('11010519491231002X')).toBeNull()
  })
  it('catches every single-digit typo', () => {
    const good = '440524188001010014'
    for (let i = 0; i < 17; i++) {
      const d = (Number(good[i]) + 1) % 10
      const bad = good.slice(0, i) + d + good.slice(i + 1)
      const p = idNumberProblem(bad)
      expect(p === 'checksum' || p === 'date', bad).toBe(true)
    }
  })
  it('masks like the server does', () => {
    expect(maskIdNumber('330106199001011234')).toBe('3301**********1234')
  })
  it('appends the X of the keypad key, never past 18 characters', () => {
    expect(appendIdX('11010519491231002')).toBe('11010519491231002X')
    expect(isValidIdNumber(appendIdX('11010519491231002'))).toBe(true)
    expect(appendIdX(' 1101 ')).toBe('1101X')
    expect(appendIdX('')).toBe('X')
    expect(appendIdX('11010519491231002X')).toBe('11010519491231002X')
    expect(appendIdX('440524188001010014')).toBe('440524188001010014')
  })
  it('keeps digits and X only from what is typed or pasted', () => {
    expect(sanitizeIdInput('110105 19491231 002x')).toBe('11010519491231002X')
    expect(sanitizeIdInput('11010519491231002X99')).toBe('11010519491231002X')
    expect(sanitizeIdInput('１2a3-4ｘ')).toBe('1234X')
  })
})
