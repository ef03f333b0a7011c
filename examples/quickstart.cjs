// The README's CommonJS line, exercised: require() gives the same API (run by __test__/examples.spec.ts).
const { VectorIndex, capabilities, QuiverError } = require('..')

const index = new VectorIndex({ dim: 4, metric: 'l2' })
index.addSync(
  [10, 20],
  [
    [0, 0, 0, 1],
    [1, 0, 0, 0],
  ],
)
const r = index.searchSync([0, 0, 0, 0.9], { k: 1 })
let code = null
try {
  index.addSync([10], [[1, 1, 1, 1]])
} catch (e) {
  code = e instanceof QuiverError ? e.code : 'not a QuiverError'
}
console.log(JSON.stringify({ key: r.keys[0], isa: capabilities().isa, code }))
