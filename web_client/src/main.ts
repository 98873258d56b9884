import { createApp } from 'vue'
import {
  ElButton,
  ElCheckbox,
  ElConfigProvider,
  ElDialog,
  ElInput,
  ElInputNumber,
  ElOption,
  ElProgress,
  ElRadio,
  ElRadioGroup,
  ElSelect,
  ElSwitch,
  ElTag,
} from 'element-plus'
import 'element-plus/dist/index.css'
import './style.css'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'

const app = createApp(App)
for (const c of [ElButton, ElCheckbox, ElConfigProvider, ElDialog, ElInput, ElInputNumber, ElOption, ElProgress, ElRadio, ElRadioGroup, ElSelect, ElSwitch, ElTag]) {
  app.component(c.name as string, c)
}
app.use(i18n)
app.use(router)
app.config.errorHandler = (err) => {
  console.error(err)
}
app.mount('#app')
document.documentElement.lang = i18n.global.locale.value
