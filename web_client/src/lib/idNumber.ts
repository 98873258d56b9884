// Mainland resident ID numbers (GB 11643-1999): 17 digits + a check character (0-9 or X).

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CHECK = '10X98765432'

export type IdProblem = 'empty' | 'length' | 'chars' | 'date' | 'checksum'

/** Upper-case, no spaces: what is sent to the server. */
export function normalizeIdNumber(raw: string): string {
  return raw.replace(/\s+/g, '').toUpperCase()
}

export function idCheckChar(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]
  return CHECK[sum % 11]
}

/** null when valid; otherwise why not (for a precise message). Lower-case x is accepted. */
export function idNumberProblem(raw: string): IdProblem | null {
  const s = normalizeIdNumber(raw)
  if (!s) return 'empty'
  if (s.length !== 18) return 'length'
  if (!/^\d{17}[\dX]$/.test(s)) return 'chars'
  const y = Number(s.slice(6, 10))
  const m = Number(s.slice(10, 12))
  const d = Number(s.slice(12, 14))
  const date = new Date(Date.UTC(y, m - 1, d))
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return 'date'
  if (idCheckChar(s) !== s[17]) return 'checksum'
  return null
}

/**
 * The X key next to the ID field (a phone's numeric keypad has no X): append the check
 * character X. Nothing happens once the number has its 18 characters.
 */
export function appendIdX(raw: string): string {
  const s = normalizeIdNumber(raw)
  return s.length >= 18 ? s : s + 'X'
}

/**
 * What the ID field keeps of what is typed or pasted: digits and X (full-width ones from a
 * Chinese input method too), upper-cased, at most 18.
 */
export function sanitizeIdInput(raw: string): string {
  const ascii = raw
    .replace(/[\uFF10-\uFF19]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/[\uFF38\uFF58]/g, 'X')
  return normalizeIdNumber(ascii).replace(/[^\dX]/g, '').slice(0, 18)
}

export function isValidIdNumber(raw: string): boolean {
  return idNumberProblem(raw) === null
}

/** 3301**********1234 — the form every screen shows. */
export function maskIdNumber(raw: string): string {
  const s = normalizeIdNumber(raw)
  if (s.length < 8) return '*'.repeat(s.length)
  return s.slice(0, 4) + '*'.repeat(s.length - 8) + s.slice(-4)
}
