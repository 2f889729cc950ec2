// The command line, run as a real subprocess.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'

const CLI = path.join(__dirname, '..', '..', 'cli.js')
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 })

test('demo: processes append, one model call fails, one is SIGKILLed holding the lock; every check passes', () => {
  const r = run('demo')
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /SIGKILL sent to w1 while it holds the lock/)
  assert.match(r.stdout, /ok {3}every acknowledged entry is present exactly once \(\d+ entries\)/)
  assert.match(r.stdout, /ok {3}nobody waited on the dead holder/)
  assert.match(r.stdout, /ok {3}the failed model call left an error entry/)
  assert.doesNotMatch(r.stdout, /FAIL/)
})

test('help and unknown commands', () => {
  const help = run('--help')
  assert.equal(help.status, 0)
  assert.match(help.stdout, /Usage: session-write-lock/)
  const bad = run('frobnicate')
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown command "frobnicate"/)
})
