// The README's main job (npm run demo, or node examples/demo.mjs once built); the code is bin/lib/demo.mjs.
import { runDemo } from '../bin/lib/demo.mjs'
await runDemo()
