// The benchmark harness must not rot: its quick variant runs every contender through every metric and
// checks correctness (line counts, every waiter through), not speed.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'

test('npm run bench -- --quick: every metric for every contender, correct line counts', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'benchmark', 'bench.js'), '--quick'], {
    encoding: 'utf8',
    timeout: 300_000,
  })
  assert.equal(r.status, 0, r.stderr.slice(-2000))
  // fs-ext is built from source for the bench; where it cannot be, the report says why.
  const header = r.stdout.split('\n').find((l) => l.startsWith('| metric |'))!
  assert.match(
    header,
    /^\| metric \| session-write-lock \| legacy \| proper-lockfile \| fs-safe \| (fs-ext \| )?raw \| naive-wx \|$/,
  )
  const withFsExt = header.includes('fs-ext')
  if (withFsExt) assert.match(r.stdout, /\| 2\. handoff median, ours ÷ fs-ext \(target ≤ 1×\) \| [\d.]+× /)
  else assert.match(r.stdout, /^fs-ext skipped: .+/m)
  // Every lock wrote exactly the expected lines, none torn. A peer library may fail under the load (it
  // happened to fs-safe: "file lock stale"): the bench then says so, in the cell and below the title.
  const names = header
    .split('|')
    .slice(2, -1)
    .map((c) => c.trim())
  const linesRow = r.stdout.split('\n').find((l) => l.startsWith('| 4. lines written / torn'))!
  const cells = linesRow
    .split('|')
    .slice(2, -1)
    .map((c) => c.trim())
  assert.equal(cells[0], '200 / 0', 'ours')
  for (const [i, cell] of cells.slice(0, withFsExt ? 5 : 4).entries()) {
    if (cell === 'failed') assert.match(r.stdout, new RegExp(`^${names[i]} failed in contended: .+`, 'm'))
    else assert.equal(cell, '200 / 0', names[i])
  }
  assert.match(r.stdout, /\| 1\. round trip vs legacy \(target ≥ 20× faster\) \| [\d.]+× \|/)
  // The native floor was built and run, and group commit wrote every line (bench.js checks the count).
  assert.match(
    r.stdout,
    /\| 1\. round trip ÷ native protocol floor, median of 2 alternating rounds \(target ≤ 2×\) \| [\d.]+× \(/,
  )
  assert.match(r.stdout, /\| 3\. one locked 1 KiB append ÷ \(native floor \+ raw appendFileSync\), median of 2 rounds/)
  // The handoff above its wake floor is priced, the protocol's own calls measured natively in the run.
  if (process.platform === 'linux')
    assert.match(
      r.stdout,
      /\| 2\. what the handoff adds to the pipe-wake floor, µs \| -?[\d.,]+: the protocol's calls .* [\d.]+; the rest -?[\d.,]+ /,
    )
  assert.match(
    r.stdout,
    /\| 7\. group commit, share of raw appendFileSync of the same lines \(target ≥ 50%\) \| [\d.]+% \|/,
  )
})
