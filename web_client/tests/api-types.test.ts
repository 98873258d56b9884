// src/lib/api-types.ts must be what openapi-typescript generates from the server's contract,
// docs/openapi.json (the same call as `npm run gen:api`). When this fails, regenerate:
//   npm run gen:api
import { readFileSync } from 'node:fs'
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript'
import { describe, expect, it } from 'vitest'

const SPEC = new URL('../../docs/openapi.json', import.meta.url)
const GENERATED = new URL('../src/lib/api-types.ts', import.meta.url)

describe('REST API types', () => {
  it('src/lib/api-types.ts is generated from the current docs/openapi.json', async () => {
    const fresh = COMMENT_HEADER + astToString(await openapiTS(SPEC, { silent: true }))
    const committed = readFileSync(GENERATED, 'utf8')
    if (committed !== fresh) {
      const a = committed.split('\n')
      const b = fresh.split('\n')
      let i = 0
      while (i < a.length && a[i] === b[i]) i++
      expect.fail(
        `src/lib/api-types.ts is stale (first difference at line ${i + 1}: ` +
          `${JSON.stringify(a[i] ?? '')} vs ${JSON.stringify(b[i] ?? '')}); run: npm run gen:api`,
      )
    }
  }, 60_000)
})
