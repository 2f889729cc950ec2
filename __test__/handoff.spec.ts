// Passing the lock on inside one process: a caller queued behind another caller of the same process gets
// the sidecar as it is (same file, still kernel-locked, its own payload written over the last), up to a
// bound, after which the lock is released for real so that other processes get their chance. Seen the
// way other processes see it: the sidecar's identity, its payload, and a watcher process that polls
// the path the whole time.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import { inspectSessionLocks, sessionLockStats, withSessionWriteLock } from '../index.js'
import { lockChild, sleep, tempSession } from './helpers'

const ino = (p: string) => fs.statSync(p, { bigint: true }).ino

/** What the holder's payload says right now (its owner label). */
const ownerIn = (lockPath: string) => JSON.parse(fs.readFileSync(lockPath, 'utf8')).owner

/** A process that checks, as fast as it can until told to stop, whether the sidecar is there. */
function watcher(t: { after: (fn: () => void) => void }, lockPath: string, stopFile: string) {
  const script = `
    const fs = require('node:fs')
    let looks = 0, missing = 0
    process.stdout.write('watching\\n')
    while (!fs.existsSync(${JSON.stringify(stopFile)})) {
      looks++
      if (!fs.existsSync(${JSON.stringify(lockPath)})) missing++
    }
    process.stdout.write(JSON.stringify({ looks, missing }) + '\\n')
  `
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => proc.kill())
  let out = ''
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
  const started = new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()))
  const report = new Promise<{ looks: number; missing: number }>((resolve) =>
    proc.on('exit', () => resolve(JSON.parse(out.trim().split('\n').at(-1)!))),
  )
  return { started, report }
}

test('a caller queued behind another of this process gets the sidecar as it is, with its own payload, never absent in between', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  const stopFile = path.join(dir, 'stop')
  const before = sessionLockStats().handedOn
  const seen: Array<{ owner: string; ino: bigint; payloadOwner: string; at: number }> = []
  const look = (owner: string) =>
    seen.push({ owner, ino: ino(lockPath), payloadOwner: ownerIn(lockPath), at: performance.now() })
  let aEnded = 0
  let watching: ReturnType<typeof watcher> | undefined
  let letGo!: () => void
  const first = withSessionWriteLock(file, { owner: 'run-a' }, async () => {
    look('run-a')
    watching = watcher(t, lockPath, stopFile)
    await watching.started
    await new Promise<void>((r) => (letGo = r))
    aEnded = performance.now()
  })
  await sleep(20)
  let report: { looks: number; missing: number } | undefined
  const queued = ['run-b', 'run-c', 'run-d'].map((owner) =>
    withSessionWriteLock(file, { owner }, async () => {
      look(owner)
      if (owner !== 'run-d') return
      fs.writeFileSync(stopFile, '') // the watcher stops, and has stopped, while d still holds
      report = await watching!.report
    }),
  )
  while (!watching) await sleep(5)
  await watching.started
  await sleep(30) // the watcher is polling; the three are queued
  letGo()
  await Promise.all([first, ...queued])

  assert.deepEqual(
    seen.map((s) => [s.owner, s.payloadOwner]),
    [
      ['run-a', 'run-a'],
      ['run-b', 'run-b'],
      ['run-c', 'run-c'],
      ['run-d', 'run-d'],
    ],
    'each hold writes its own payload',
  )
  // The chain is passed on for 20 ms at most (Chain::MAX_SPAN), counted from a's release: on a machine
  // so loaded that a to d took longer, the last pass may have been a real release (then the sidecar may
  // have been absent, and may be another file). Within the bound, every pass must have been a handoff.
  const handed = sessionLockStats().handedOn - before
  const span = seen[3].at - aEnded
  if (handed < 3) {
    assert.ok(span >= 20, `only ${handed} of 3 handed on within ${span.toFixed(1)} ms, inside the 20 ms bound`)
    return t.diagnostic(`a to d took ${span.toFixed(1)} ms, past the chain's 20 ms: ${handed} of 3 handed on`)
  }
  assert.equal(handed, 3)
  assert.equal(new Set(seen.map((s) => s.ino)).size, 1, 'one sidecar file for the four holds')
  const { looks, missing } = report!
  assert.ok(looks > 0)
  assert.equal(missing, 0, `the sidecar was missing for ${missing} of ${looks} looks`)
  assert.equal(fs.existsSync(lockPath), false, 'released for real after the last')
})

test('the sidecar is passed on at most so many times in a row, then released for real', async (t) => {
  const { file } = tempSession(t)
  let letGo!: () => void
  // For each hold, whether it got the sidecar handed on (the counter moved since the hold before).
  const handedOn: boolean[] = []
  let last = sessionLockStats().handedOn
  const note = () => {
    const now = sessionLockStats().handedOn
    handedOn.push(now > last)
    last = now
  }
  const first = withSessionWriteLock(file, {}, async () => {
    note()
    await new Promise<void>((r) => (letGo = r))
  })
  await sleep(20)
  const queued = Array.from({ length: 140 }, () => withSessionWriteLock(file, {}, note))
  letGo()
  await Promise.all([first, ...queued])
  // Runs of holds on one sidecar: each starts with a hold that took it from the kernel.
  const runs: number[] = []
  handedOn.forEach((handed) => (handed ? runs[runs.length - 1]++ : runs.push(1)))
  assert.equal(handedOn[0], false)
  assert.ok(runs.length >= 3, `141 holds cannot share fewer than 3 sidecars (runs: ${runs})`)
  assert.ok(
    runs.every((r) => r <= 64),
    `no more than 64 holds in a row on one sidecar (runs: ${runs})`,
  )
  assert.ok(
    runs.slice(0, -1).every((r) => r > 1),
    `each run but the last passed the sidecar on (runs: ${runs})`,
  )
})

test('a queued caller that gave up is skipped: the next one gets the sidecar, and with nobody left it is removed', async (t) => {
  const { file, lockPath } = tempSession(t)
  let letGo!: () => void
  const first = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (letGo = r)))
  await sleep(20)
  const controller = new AbortController()
  const gaveUp = withSessionWriteLock(file, { signal: controller.signal }, () => 'never').catch((e) => e.code)
  const handedBefore = sessionLockStats().handedOn
  const after = withSessionWriteLock(file, {}, () => sessionLockStats().handedOn - handedBefore)
  const lastOne = new AbortController()
  const gaveUpToo = withSessionWriteLock(file, { signal: lastOne.signal }, () => 'never').catch((e) => e.code)
  controller.abort()
  lastOne.abort()
  assert.equal(await gaveUp, 'SESSION_WRITE_LOCK_ABORTED')
  assert.equal(await gaveUpToo, 'SESSION_WRITE_LOCK_ABORTED')
  letGo()
  await first
  assert.equal(await after, 1, 'the caller after the one that gave up got the sidecar handed on')
  assert.equal(fs.existsSync(lockPath), false, 'nobody left: removed')
  assert.deepEqual(inspectSessionLocks(path.dirname(file)), [])
  assert.equal(await withSessionWriteLock(file, { acquireTimeoutMs: 0 }, () => 'free'), 'free')
})

test('a waiter that prepared its sidecar long before the holder let go publishes it with a fresh payload', async (t) => {
  const { file, lockPath } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  const waiting = withSessionWriteLock(file, { owner: 'late' }, () => {
    const payload = JSON.parse(fs.readFileSync(lockPath, 'utf8'))
    return { payload, now: Date.now() }
  })
  await sleep(1500) // the waiter's prepared sidecar is older than a second by now
  holder.send('release')
  const { payload, now } = await waiting
  assert.equal(payload.pid, process.pid)
  assert.equal(payload.owner, 'late')
  for (const field of ['createdAt', 'acquiredAt']) {
    const age = now - Date.parse(payload[field])
    assert.ok(age >= 0 && age < 1000, `${field} is ${age} ms old: written at the grant, not when the wait began`)
  }
})
