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

// The soak tells the legacy lock's own races from ours by what its deletions by path report (onRemoval).
test('the legacy lock reports each deletion by path: the file it meant, the file the path named, the pid it judged', () => {
  const script = `
    const fs = require('node:fs'), os = require('node:os'), path = require('node:path')
    const { spawnSync } = require('node:child_process')
    const { acquireLegacyLock } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'scripts', 'legacy-lock.js'))})
    ;(async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-removals-'))
      const file = path.join(dir, 's.jsonl')
      const dead = spawnSync(process.execPath, ['-e', '']).pid
      fs.writeFileSync(file + '.lock', JSON.stringify({ pid: dead, createdAt: new Date().toISOString() }))
      const planted = fs.statSync(file + '.lock').ino
      const seen = []
      const lock = await acquireLegacyLock({ sessionFile: file, onRemoval: (r) => seen.push(r) })
      const ours = fs.statSync(file + '.lock').ino
      await lock.release()
      process.stdout.write(JSON.stringify({ seen, dead, planted, ours, lockIno: lock.ino, left: fs.existsSync(file + '.lock') }))
      fs.rmSync(dir, { recursive: true, force: true })
    })()
  `
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, r.stderr)
  const { seen, dead, planted, ours, lockIno, left } = JSON.parse(r.stdout)
  assert.equal(lockIno, ours)
  assert.deepEqual(seen, [
    { why: 'stale', meant: planted, removed: planted, judgedPid: dead },
    { why: 'release', meant: ours, removed: ours },
  ])
  assert.equal(left, false)
})
