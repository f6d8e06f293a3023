// Declarations for the ESM entry (index.mjs). The types themselves live once,
// in index.d.ts; this file only says that the ESM entry has the same named
// exports, plus the default export index.mjs adds (the CommonJS module object).
// Without it, TypeScript under node16/nodenext/bundler would read index.d.ts
// as the types of `import 'rusque'` and treat rusque as CommonJS there
// ("Masquerading as CJS" in arethetypeswrong).

import * as rusque from './index.js'

export * from './index.js'
export default rusque
