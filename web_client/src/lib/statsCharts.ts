// Only the parts of ECharts the statistics page uses (tree-shaken; loaded on demand).
import * as echarts from 'echarts/core'
import { BarChart, LineChart } from 'echarts/charts'
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, LineChart, AriaComponent, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer])

export const init = (el: HTMLElement) => echarts.init(el)

// The ECharts locale (its own texts: the aria description) each element was drawn in.
const drawnIn = new WeakMap<HTMLElement, string>()

/**
 * Draw `option` into `el`, replacing whatever was drawn there. The page calls it again with
 * options rebuilt in the new language when the UI locale changes, so legends and labels switch
 * without a reload; the chart is re-created when ECharts' own locale must change too. The
 * chart's aria-label (ECharts' aria component) names its series, for screen readers.
 */
export function render(el: HTMLElement, option: Record<string, unknown>, uiLocale: string) {
  const lang = uiLocale.startsWith('zh') ? 'ZH' : 'EN'
  let chart = echarts.getInstanceByDom(el)
  if (chart && drawnIn.get(el) !== lang) {
    chart.dispose()
    chart = undefined
  }
  if (!chart) {
    chart = echarts.init(el, undefined, { locale: lang })
    drawnIn.set(el, lang)
  }
  chart.setOption({ aria: { enabled: true }, ...option }, true)
  return chart
}
