// Security guarantees of SECURITY.md that the other suites do not already cover.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import { test } from 'node:test'

import { withSessionWriteLock, SessionWriteLockLostError } from '../index.js'
import { namesVanishWhileOpen, sleep, tempSession } from './helpers'

test('a sidecar replaced under a hold is not deleted, and the hold writes nothing more', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  if (!namesVanishWhileOpen(dir)) return t.skip('a held sidecar cannot be deleted and replaced on this file system')
  const replacement = JSON.stringify({ pid: 1, createdAt: new Date().toISOString() }, null, 2)
  const revocations: Error[] = []
  let writeAfter: unknown
  await withSessionWriteLock(file, { onRevoked: (e) => revocations.push(e) }, async (lock) => {
    lock.append({ before: true })
    // What a racing legacy waiter does: delete by path, create its own.
    fs.rmSync(lockPath)
    fs.writeFileSync(lockPath, replacement, { flag: 'wx' })
    try {
      lock.append({ after: true })
    } catch (err) {
      writeAfter = err
    }
    await sleep(10)
  })
  assert.ok(writeAfter instanceof SessionWriteLockLostError, String(writeAfter))
  assert.equal(fs.readFileSync(lockPath, 'utf8'), replacement, 'release deleted a sidecar that was not ours')
  assert.deepEqual(
    fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [{ before: true }],
    'a write went through a hold whose sidecar was replaced',
  )
  await sleep(50)
  assert.equal(revocations.length, 1)
})

test('the monitor notices a replaced sidecar within a second, without any write', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  if (!namesVanishWhileOpen(dir)) return t.skip('a held sidecar cannot be deleted and replaced on this file system')
  const started = Date.now()
  const abortedAfter = await withSessionWriteLock(file, { onRevoked: () => {} }, async (lock) => {
    fs.rmSync(lockPath)
    fs.writeFileSync(lockPath, '{}')
    await new Promise((resolve) => lock.signal.addEventListener('abort', resolve))
    return Date.now() - started
  })
  assert.ok(abortedAfter < 1000, `noticed after ${abortedAfter} ms`)
  assert.equal(fs.readFileSync(lockPath, 'utf8'), '{}')
})
