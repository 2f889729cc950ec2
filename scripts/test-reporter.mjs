// The node:test reporter of `npm test`: a dot per test, then each failure in full, then one summary line
// (`# tests 174, pass 170, fail 0, skipped 4`) after the five slowest tests, so that a run reads in a
// screenful and says where its time went. CI keeps full TAP logs of its own (.ci/run).

import { inspect } from 'node:util'

export default async function* concise(source) {
  const counts = { tests: 0, pass: 0, fail: 0, skipped: 0 }
  const failures = []
  const durations = []
  let column = 0
  for await (const event of source) {
    if (
      event.type === 'test:diagnostic' &&
      event.data.nesting === 0 &&
      /^(tests|pass|fail|duration_ms) /.test(event.data.message)
    )
      continue
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    if (event.data.details?.type === 'suite') continue
    counts.tests++
    durations.push({ name: event.data.name, file: event.data.file, ms: event.data.details?.duration_ms ?? 0 })
    let mark = '.'
    if (event.data.skip !== undefined && event.data.skip !== false) {
      counts.skipped++
      mark = 's'
    } else if (event.type === 'test:pass') counts.pass++
    else {
      counts.fail++
      mark = 'X'
      failures.push(event.data)
    }
    column = (column + 1) % 100
    yield column === 0 ? `${mark}\n` : mark
  }
  yield '\n'
  for (const f of failures) {
    const where = f.file ? ` (${f.file}${f.line ? `:${f.line}` : ''})` : ''
    const error = f.details?.error?.cause ?? f.details?.error
    yield `\n✖ ${f.name}${where}\n${inspect(error, { depth: 4 }).replace(/^/gm, '  ')}\n`
  }
  durations.sort((a, b) => b.ms - a.ms)
  for (const d of durations.slice(0, 5)) {
    const file = d.file ? ` (${d.file.split(/[\\/]/).slice(-2).join('/')})` : ''
    yield `\n# slow: ${(d.ms / 1000).toFixed(1)} s ${d.name}${file}`
  }
  yield `\n# tests ${counts.tests}, pass ${counts.pass}, fail ${counts.fail}, skipped ${counts.skipped}\n`
}
