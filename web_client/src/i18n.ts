import { createI18n } from 'vue-i18n'
import zhCN from './locales/zh-CN.json'
import en from './locales/en.json'

export type MessageSchema = typeof zhCN
export const SUPPORTED = ['zh-CN', 'en'] as const
export type Locale = (typeof SUPPORTED)[number]

function initialLocale(): Locale {
  const saved = localStorage.getItem('locale')
  if (saved === 'en' || saved === 'zh-CN') return saved
  return 'zh-CN' // the court's language is the default, whatever the browser says
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
})

export function setLocale(l: Locale): void {
  i18n.global.locale.value = l
  localStorage.setItem('locale', l)
  document.documentElement.lang = l
}
