import { describe, expect, it } from 'vitest'
import zh from '../src/locales/zh-CN.json'
import {
  encodingKey,
  errorMessage,
  errorRows,
  fieldOf,
  mappingOf,
  missingRequired,
  sortErrors,
  takenBy,
  type ColumnOut,
  type FieldOut,
} from '../src/components/import/importWizard'

const col = (index: number, header: string, field: string | null): ColumnOut => ({ index, header, field, source: field ? 'label' : null, samples: [] })
const FIELDS: FieldOut[] = [
  { key: 'case_type', label: '案件类型', required: true },
  { key: 'applicant_name', label: '申请人', required: true },
  { key: 'respondent_name', label: '被申请人', required: true },
  { key: 'outcome', label: '结果', required: false },
]
// The zh-CN texts, as vue-i18n would give them (placeholders filled in).
const t = (key: string, params: Record<string, unknown> = {}) => {
  const text = key.split('.').reduce((o: any, k) => o?.[k], zh) as string
  return text.replace(/\{(\w+)\}/g, (_, k) => String(params[k]))
}

describe('import wizard helpers', () => {
  it('sorts row errors by row number, not as text, keeping the order within a row', () => {
    const errs = [
      { field: 'row 10.case_type', row: 10 },
      { field: 'row 2.outcome', row: 2 },
      { field: 'row 100.case_type', row: 100 },
      { field: 'row 2.case_type', row: 2 },
      { field: 'row 1.applicant_name', row: 1 },
    ]
    expect(sortErrors(errs).map((e) => e.field)).toEqual([
      'row 1.applicant_name',
      'row 2.outcome',
      'row 2.case_type',
      'row 10.case_type',
      'row 100.case_type',
    ])
    // the header (row 1) is not a data row
    expect(errorRows(errs)).toBe(3)
    expect(fieldOf({ field: 'row 5.closed_at' })).toBe('closed_at')
  })

  it('sends every named column, the user’s choice first, and ignores the rest', () => {
    const cols = [col(1, '申请方', null), col(2, '案件类型', 'case_type'), col(3, '备注', null), col(4, '', null)]
    expect(mappingOf(cols, { 1: 'applicant_name' })).toEqual({ 申请方: 'applicant_name', 案件类型: 'case_type', 备注: null })
    expect(mappingOf(cols, { 2: null })).toEqual({ 申请方: null, 案件类型: null, 备注: null })
    expect(missingRequired(FIELDS, cols, {})).toEqual(['applicant_name', 'respondent_name'])
    expect(missingRequired(FIELDS, cols, { 1: 'applicant_name', 3: 'respondent_name' })).toEqual([])
    expect(takenBy('case_type', 1, cols, {})).toBe('案件类型')
    expect(takenBy('case_type', 2, cols, {})).toBe('')
    expect(takenBy('case_type', 1, cols, { 2: null })).toBe('')
  })

  it('says a row error in plain Chinese', () => {
    const m = (field: string, type: string, message: string) => errorMessage({ field, type, message }, 'zh-CN', t)
    expect(m('row 4.closed_at', 'before_received', '结案日期早于受理日期 / closed before it was received')).toBe('结案日期早于受理日期')
    // the value the server names is shown with the message
    expect(m('row 3.received_at', 'value_error', "Value error, 无法识别的日期 / unrecognised date '2025-13-01' (YYYY-MM-DD, …)")).toBe(
      '无法识别的日期「2025-13-01」，请写成 2024-03-01、2024/3/1 或 2024年3月1日',
    )
    expect(m('row 3.case_type', 'value_error', "Value error, 未知的案件类型 / unknown case type '合同纠纷'; one of: …")).toMatch(/^无法识别的案件类型「合同纠纷」，可填：婚姻家庭、物业/)
    expect(m('row 3.case_type', 'value_error', 'Value error, 未知的案件类型 / unknown case type "王\'s"; one of: …')).toContain("「王's」")
    expect(m('row 12.shared_court', 'unknown', '未知的共享法庭 / unknown shared court 不存在的共享法庭')).toBe(
      '没有名为「不存在的共享法庭」的共享法庭，请核对名称，或先在“网络设置”中添加',
    )
    expect(m('row 12.area', 'unknown', '未知的片区 / unknown area 东区')).toContain('没有名为「东区」的片区')
    expect(m('row 3.case_type', 'enum', "Input should be 'marriage_family', …")).toBe('不能为空')
    expect(m('row 3.outcome', 'value_error', "Value error, 未知的结果 / unknown outcome '办结'")).toMatch(/^无法识别的结果「办结」，可填：调解成功、部分达成、调解不成、撤回/)
    // a closing status check of the server's own words stays as it says
    expect(m('row 3.outcome', 'value_error', 'Value error, 结果须为结案状态 / outcome must be one of: …')).toBe('结果须为结案状态')
    expect(m('row 3.applicant_phone', 'string_pattern_mismatch', "String should match pattern '^[0-9+\\- ]{0,32}$'")).toContain('电话号码格式不正确')
    expect(m('row 3.number', 'string_pattern_mismatch', 'String should match pattern …')).toContain('编号格式不正确')
    expect(m('row 3.applicant_name', 'string_too_short', 'String should have at least 1 character')).toBe('不能为空')
    expect(m('row 3.facts', 'string_too_long', 'String should have at most 10000 characters')).toBe('内容过长')
    expect(m('row 3.facts', 'something_new', 'Some English')).toBe('内容不正确')
    expect(errorMessage({ field: 'row 3.facts', type: 'something_new', message: 'Some English' }, 'en', t)).toBe('Some English')
  })

  it('names the encoding the server read', () => {
    expect(encodingKey('gb18030')).toBe('gbk')
    expect(encodingKey('utf-8-sig')).toBe('utf8sig')
    expect(encodingKey('utf-8')).toBe('utf8')
    expect(encodingKey(null)).toBe('utf8')
  })
})
