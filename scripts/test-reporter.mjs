// The node:test reporter of `npm test`: a dot per test, then each failure in full, then one summary line
// (`# tests 174, pass 170, fail 0, skipped 4`), so that a run reads in a screenful. CI keeps full TAP
// logs of its own (.ci/run).

import { inspect } from 'node:util'

export default async function* concise(source) {
  const counts = { tests: 0, pass: 0, fail: 0, skipped: 0 }
  const failures = []
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
  yield `\n# tests ${counts.tests}, pass ${counts.pass}, fail ${counts.fail}, skipped ${counts.skipped}\n`
}
