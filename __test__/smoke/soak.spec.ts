// The short chaos soak: native and legacy workers append to shared sessions while random workers are
// SIGKILLed and restarted. Nothing acknowledged may be lost, nothing torn, no two holders at once.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'

test('npm run soak -- --quick: kills, no loss, no overlap, no blocking leftovers', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'soak', 'soak.js'), '--quick'], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(r.status, 0, r.stdout + r.stderr.slice(-2000))
  const summary = JSON.parse(r.stdout)
  assert.ok(summary.kills >= 10, `only ${summary.kills} kills`)
  assert.ok(summary.acknowledged > 100, `only ${summary.acknowledged} entries acknowledged`)
  assert.equal(summary.lost, 0)
  assert.equal(summary.duplicated, 0)
  assert.equal(summary.tornLines, 0)
  assert.equal(summary.overlaps, 0)
  assert.deepEqual(summary.workerErrors, [])
})
