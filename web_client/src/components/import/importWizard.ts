// The import page's pieces that are not layout (/clerk/import): the multipart calls to the
// preview and the import, the mapping the page sends, the row errors in numeric order and in
// plain words. The server checks everything; the page only shows what it answers.

import { ApiError, localMessage, postForm } from '../../lib/api'
import type { ApiResponse } from '../../lib/types'

export type PreviewOut = ApiResponse<'/api/network/import/cases/preview', 'post'>
export type ResultOut = ApiResponse<'/api/network/import/cases', 'post'>
export type ColumnOut = PreviewOut['columns'][number]
export type FieldOut = PreviewOut['fields'][number]
export type RowOut = PreviewOut['rows'][number]
export type RowError = PreviewOut['errors'][number]

export const PREVIEW_PATH = '/api/network/import/cases/preview'
export const IMPORT_PATH = '/api/network/import/cases'
/** The server's limits (routes/csv_import.py IMPORT_MAX_BYTES, import_formats.py MAX_ROWS). */
export const MAX_BYTES = 10 * 1024 * 1024
export const MAX_ROWS = 5000
export const ACCEPT = '.xlsx,.csv,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

/** A refused import or preview: the error body's per-row `fields` travel with it. */
export class ImportError extends ApiError {
  constructor(
    status: number,
    code: string,
    message: string,
    public fields: RowError[] = [],
  ) {
    super(status, code, message)
  }
}

/** POST the file (multipart `file`, `mapping`, `sheet`) and read the JSON answer. */
export async function send<T>(path: string, file: Blob, name: string, mapping: Record<string, string | null> | null, sheet = ''): Promise<T> {
  const fd = new FormData()
  fd.append('file', file, name)
  if (mapping) fd.append('mapping', JSON.stringify(mapping))
  if (sheet.trim()) fd.append('sheet', sheet.trim())
  const { res, data } = await postForm(path, fd)
  if (!res.ok) {
    const err = data?.error
    const fields = Array.isArray(err?.fields) ? (err.fields as Partial<RowError>[]).map(normaliseError) : []
    throw new ImportError(res.status, err?.code || 'http_' + res.status, err?.message || `请求失败 / request failed (${res.status})`, fields)
  }
  return data as T
}

/** An error of the 400 body has `field` ("row 5.closed_at") always; row and column mostly. */
function normaliseError(e: Partial<RowError>): RowError {
  const field = String(e.field ?? '')
  return {
    field,
    row: typeof e.row === 'number' ? e.row : rowOf(field),
    column: e.column ?? '',
    message: e.message ?? '',
    type: e.type ?? '',
  }
}

export function rowOf(field: string): number {
  const m = /^row (\d+)\./.exec(field)
  return m ? Number(m[1]) : 0
}

/** The field key of an error ("row 5.closed_at" → "closed_at"). */
export function fieldOf(e: Pick<RowError, 'field'>): string {
  const i = e.field.indexOf('.')
  return i < 0 ? e.field : e.field.slice(i + 1)
}

/** By row number as a number (2, 10, 100, never "10" before "2"); within a row as given. */
export function sortErrors<E extends Pick<RowError, 'row' | 'field'>>(errors: readonly E[]): E[] {
  return errors
    .map((e, i) => ({ e, i, row: e.row || rowOf(e.field) }))
    .sort((a, b) => a.row - b.row || a.i - b.i)
    .map((x) => x.e)
}

/** How many distinct data rows carry an error (row 1, the header, is not a data row). */
export function errorRows(errors: readonly Pick<RowError, 'row' | 'field'>[]): number {
  return new Set(errors.map((e) => e.row || rowOf(e.field)).filter((r) => r > 1)).size
}

/**
 * The mapping the page sends: every named column → the field chosen for it, or null (ignored).
 * Sent whole, so the server imports exactly what the page shows. A column without a header
 * cannot be named in a mapping and stays ignored.
 */
export function mappingOf(columns: readonly ColumnOut[], chosen: Record<number, string | null>): Record<string, string | null> {
  const out: Record<string, string | null> = {}
  for (const c of columns) {
    if (!c.header) continue
    const v = c.index in chosen ? chosen[c.index] : c.field
    out[c.header] = v || null
  }
  return out
}

/** Required fields that no column feeds yet. */
export function missingRequired(fields: readonly FieldOut[], columns: readonly ColumnOut[], chosen: Record<number, string | null>): string[] {
  const used = new Set(columns.map((c) => (c.index in chosen ? chosen[c.index] : c.field)).filter(Boolean))
  return fields.filter((f) => f.required && !used.has(f.key)).map((f) => f.key)
}

/** The column (header) that already feeds `field`, other than column `index`; '' when none. */
export function takenBy(field: string, index: number, columns: readonly ColumnOut[], chosen: Record<number, string | null>): string {
  for (const c of columns) {
    if (c.index === index) continue
    const v = c.index in chosen ? chosen[c.index] : c.field
    if (v === field) return c.header || `#${c.index}`
  }
  return ''
}

export type Translate = (key: string, params?: Record<string, unknown>) => string

/**
 * A row error in plain words of the page's language. The server's own checks say "中文 /
 * English" (the part for the language is shown); the type checks of its parser say only
 * English ("String should match pattern …"), so those are told by their type and field.
 */
export function errorMessage(e: Pick<RowError, 'message' | 'type' | 'field'>, locale: string, t: Translate): string {
  const field = fieldOf(e)
  const raw = e.message.replace(/^Value error,\s*/, '')
  const v = valueIn(raw)
  const value = v === null ? '' : locale.startsWith('zh') ? `「${v}」` : `“${v}”`
  if (field === 'case_type' && (e.type === 'value_error' || e.type === 'enum')) {
    return e.type === 'enum' ? t('import.msg.required') : t('import.msg.caseType', { value })
  }
  if (field === 'outcome' && e.type === 'value_error' && raw.includes('unknown outcome')) return t('import.msg.outcome', { value })
  if (e.type === 'value_error' && raw.includes('unrecognised date')) return t('import.msg.date', { value })
  if (e.type === 'unknown' && v !== null && (field === 'shared_court' || field === 'area')) {
    return t(field === 'area' ? 'import.msg.unknownArea' : 'import.msg.unknownSharedCourt', { value: v })
  }
  if (raw.includes(' / ')) return localMessage(raw, locale)
  switch (e.type) {
    case 'missing':
    case 'string_too_short':
      return t('import.msg.required')
    case 'string_too_long':
      return t('import.msg.tooLong')
    case 'string_pattern_mismatch':
      if (field.endsWith('_phone')) return t('import.msg.phone')
      if (field === 'number') return t('import.msg.number')
      return t('import.msg.invalid')
    default:
      return locale.startsWith('zh') ? t('import.msg.invalid') : raw || t('import.msg.invalid')
  }
}

/**
 * The value a server message names, from its English half: "unknown case type 'x'", "unknown
 * shared court 某村共享法庭" (importer.py; Python's repr quotes with ' or, when the value holds
 * one, with "). null when it names none.
 */
export function valueIn(message: string): string | null {
  const quoted = /(?:unknown case type|unknown outcome|unrecognised date) (?:'([^']*)'|"([^"]*)")/.exec(message)
  if (quoted) return quoted[1] ?? quoted[2] ?? ''
  const named = /unknown (?:shared court|area) (.+)$/.exec(message)
  return named ? named[1].trim() : null
}

/** "UTF-8", "UTF-8（带 BOM）", "GBK（GB18030）": the encoding the server read a CSV in. */
export function encodingKey(encoding: string | null | undefined): string {
  if (encoding === 'utf-8-sig') return 'utf8sig'
  if (encoding === 'gb18030') return 'gbk'
  return 'utf8'
}
