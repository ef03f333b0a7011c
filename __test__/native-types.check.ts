/*
 * Compile-time drift check (not a test file; run `npx tsc -p __test__/tsconfig.json`):
 * the hand-written native interface in ts/native.ts must accept the generated
 * native/index.d.ts (needs `npm run build:native` first).
 */
import type * as Generated from '../native/index'
import type { NativeBinding } from '../ts/native'

declare const generated: typeof Generated
export const binding: NativeBinding = generated
