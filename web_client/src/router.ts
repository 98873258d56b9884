import { createRouter, createWebHistory } from 'vue-router'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', component: () => import('./pages/HomePage.vue') },
    { path: '/join/:token', component: () => import('./pages/JoinPage.vue'), props: true },
    { path: '/login', component: () => import('./pages/LoginPage.vue') },
    { path: '/console', component: () => import('./pages/ConsolePage.vue') },
    { path: '/console/:sessionId', component: () => import('./pages/ConsoleSessionPage.vue'), props: true },
    { path: '/terminal/:view?/:id?', component: () => import('./pages/TerminalPage.vue') },
    { path: '/clerk', component: () => import('./pages/ClerkPage.vue') },
    { path: '/clerk/records', component: () => import('./pages/RecordsPage.vue') },
    { path: '/clerk/records/:sessionId', component: () => import('./pages/RecordPlayerPage.vue'), props: true },
    { path: '/clerk/transcript/:sessionId', component: () => import('./pages/TranscriptPage.vue'), props: true },
    { path: '/clerk/invite/:inviteId/print', component: () => import('./pages/InvitationPrintPage.vue'), props: true },
    { path: '/clerk/stats', component: () => import('./pages/StatsPage.vue') },
    { path: '/clerk/education', component: () => import('./pages/EducationAdminPage.vue') },
    { path: '/clerk/intakes', component: () => import('./pages/IntakeQueuePage.vue') },
    { path: '/clerk/mediators', component: () => import('./pages/MediatorsPage.vue') },
    { path: '/clerk/network', component: () => import('./pages/NetworkSetupPage.vue') },
    { path: '/clerk/integration', component: () => import('./pages/IntegrationPage.vue') },
    { path: '/clerk/import', component: () => import('./pages/ImportPage.vue') },
    { path: '/stats', redirect: '/clerk/stats' },
    { path: '/:pathMatch(.*)*', component: () => import('./pages/NotFound.vue') },
  ],
})
