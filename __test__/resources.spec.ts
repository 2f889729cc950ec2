// Resource exhaustion: descriptors, long runs of cycles, and a callback that never settles.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'

import { withSessionWriteLock } from '../index.js'
import { BOUNDED, expectWarnings, FIXTURES, lockChild, tempSession } from './helpers'

const CHILD = path.join(FIXTURES, 'lock-child.js')

test('out of descriptors: EMFILE with a clear message, nothing leaked, and it works again once freed', (t) => {
  if (process.platform === 'win32')
    return t.skip('needs a shell with ulimit -n (Windows has no per-process descriptor limit)')
  const { file, lockPath } = tempSession(t)
  const r = spawnSync('sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${CHILD}" emfile "${file}"`], {
    encoding: 'utf8',
    ...BOUNDED,
  })
  const line = r.stdout.trim().split('\n').pop()!
  const ev = JSON.parse(line)
  assert.equal(ev.code, 'EMFILE', `${line}\n${r.stderr}`)
  assert.equal(ev.path, lockPath)
  assert.match(ev.message, /Too many open files/)
  assert.equal(ev.extra, 0, 'the failed acquisition left a descriptor open')
  assert.equal(ev.sidecarLeft, false)
  assert.equal(ev.after, 'locked')
})

test('100 000 acquire/release cycles leave descriptors and memory flat', (t) => {
  if (process.platform === 'win32') return t.skip('counts descriptors in /proc/self/fd or /dev/fd')
  const { file } = tempSession(t)
  // A 1 MB young generation keeps V8's own heap sizing (tens of MB under any high allocation rate) from
  // hiding or faking a leak. Two measured rounds of 100 000: the first may include a one-time growth of
  // V8 or the allocator; the second must be flat.
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--max-semi-space-size=1', CHILD, 'cycles', file, '100000', '20000'],
    {
      encoding: 'utf8',
      timeout: 300_000,
    },
  )
  const { rounds } = JSON.parse(r.stdout.trim().split('\n').pop()!)
  const [start, first, second] = rounds
  const mb = (bytes: number) => bytes / 2 ** 20
  assert.equal(first.fds, start.fds, 'descriptors after the first 100 000')
  assert.equal(second.fds, start.fds, 'descriptors after the second 100 000')
  assert.ok(mb(second.heapUsed - start.heapUsed) < 2, `JS heap grew ${mb(second.heapUsed - start.heapUsed)} MB`)
  assert.ok(mb(first.rss - start.rss) < 30, `RSS grew ${mb(first.rss - start.rss)} MB in the first round`)
  assert.ok(mb(second.rss - first.rss) < 4, `RSS grew ${mb(second.rss - first.rss)} MB in the second round`)
})

test('a callback that never settles is revoked at maxHoldMs, and its waiters proceed', async (t) => {
  const { file } = tempSession(t)
  const warnings = expectWarnings(t, ['SESSION_WRITE_LOCK_REVOKED'])
  void withSessionWriteLock(file, { maxHoldMs: 300 }, () => new Promise(() => {}))
  const waiter = lockChild(t, ['acquire', file, '5000'])
  const got = await waiter.waitFor('acquired')
  assert.ok(Number(got.waitedMs) < 3000, `waited ${got.waitedMs} ms`)
  assert.deepEqual(
    warnings.map((w) => w.code),
    ['SESSION_WRITE_LOCK_REVOKED'],
  )
  // In this process too: the queue moved on.
  assert.equal(await withSessionWriteLock(file, { acquireTimeoutMs: 2000 }, () => 'next'), 'next')
})
