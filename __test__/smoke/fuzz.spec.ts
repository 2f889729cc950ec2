// The short fuzz variant: each cargo-fuzz target runs for a few seconds. The committed corpus is also
// replayed by `cargo test` (src/fuzz_checks.rs), which needs no fuzzer.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'

const haveCargoFuzz = spawnSync('cargo', ['fuzz', '--version']).status === 0

test(
  'every fuzz target runs clean for a few seconds',
  { skip: !haveCargoFuzz && 'cargo-fuzz is not installed (.ci/run installs it)' },
  () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'fuzz.js'), '--seconds', '4'], {
      encoding: 'utf8',
      timeout: 900_000,
    })
    assert.equal(r.status, 0, r.stderr.slice(-3000))
    for (const target of ['payload', 'tail_repair', 'config']) assert.match(r.stderr, new RegExp(`fuzzing ${target}`))
    assert.match(r.stderr, /Done \d+ runs/)
  },
)
