// Interop with the legacy JavaScript lock, in separate processes, both ways, and the stale rules on
// planted sidecars. The legacy processes here run scripts/legacy-lock.js, a re-implementation of the
// 2026.2 to 2026.4 algorithm: it runs wherever this package does (Node 20, Windows under Wine), where the
// published code cannot, and it plants payloads that no live OpenClaw would write. The published
// generations themselves are in generations.spec.ts.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import { inspectSessionLocks, withSessionWriteLock, sessionLockStats } from '../index.js'
import { contend, deadPid, livePid, lockChild, sleep, tempSession } from './helpers'

const LEGACY = { LOCK_IMPL: 'legacy' }
type Role = 'native' | 'legacy'
const ROLES: Role[] = ['native', 'legacy']
const env = (role: Role) => (role === 'legacy' ? LEGACY : {})
type Ctx = Parameters<typeof tempSession>[0]
/** A live pid that is not the judging child's own: this test process. */
const LIVE = process.pid

/** One acquisition attempt by a separate process of the given implementation. */
async function attempt(t: Ctx, role: Role, file: string, timeoutMs: number, staleMs?: number) {
  const args = ['acquire', file, String(timeoutMs), ...(staleMs === undefined ? [] : [String(staleMs)])]
  const child = lockChild(t, args, env(role))
  await child.exited
  const ev = child.events.find((e) => e.event === 'acquired' || e.event === 'error')
  assert.ok(ev, `no outcome from ${role}: ${child.stderr}`)
  return ev
}

function plant(lockPath: string, payload: unknown, ageMs = 0) {
  fs.writeFileSync(lockPath, typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2))
  if (ageMs) {
    const then = new Date(Date.now() - ageMs)
    fs.utimesSync(lockPath, then, then)
  }
}

const iso = (agoMs = 0) => new Date(Date.now() - agoMs).toISOString()
const HOUR = 3_600_000

test('mixed contention: legacy and native processes append to one transcript, never overlapping', async (t) => {
  const r = await contend(t, ['legacy', 'native', 'legacy', 'native'], 40)
  assert.equal(r.overlaps, '', 'two holders were inside at once')
  assert.equal(r.counter, r.total)
  assert.equal(r.tail, '')
  assert.equal(r.lines.length, r.total)
  assert.deepEqual(new Set(r.lines.map((l: { impl: string }) => l.impl)), new Set(['legacy', 'native']))
  assert.equal(r.sidecarLeft, false)
})

test('a live legacy holder is waited for, and taken as soon as it lets go', async (t) => {
  const { file, lockPath } = tempSession(t)
  const legacy = lockChild(t, ['hold', file], LEGACY)
  await legacy.waitFor('held')
  const busy = await withSessionWriteLock(file, { acquireTimeoutMs: 200 }, () => {}).catch((e) => e)
  assert.equal(busy.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  assert.deepEqual(
    { ...busy.owner, heldForMs: undefined },
    { pid: legacy.pid, alive: true, kind: 'legacy', heldForMs: undefined, label: null, hostname: null, process: null },
  )
  assert.ok(busy.owner.heldForMs >= 200)
  assert.ok(fs.existsSync(lockPath), 'the live legacy sidecar is left alone')
  const waiting = withSessionWriteLock(file, { acquireTimeoutMs: 10_000 }, () => 'ours now')
  await sleep(100)
  legacy.send('release')
  assert.equal(await waiting, 'ours now')
})

test('a legacy process waits for our hold and times out with its own message', async (t) => {
  const { file } = tempSession(t)
  await withSessionWriteLock(file, {}, async () => {
    const ev = await attempt(t, 'legacy', file, 300)
    assert.equal(ev.event, 'error')
    assert.match(String(ev.message), new RegExp(`^session file locked \\(timeout 300ms\\): pid=${process.pid} `))
  })
  assert.equal((await attempt(t, 'legacy', file, 300)).event, 'acquired')
})

for (const role of ROLES) {
  test(`${role}: a legacy lock with a dead pid is taken over`, async (t) => {
    const { file, lockPath } = tempSession(t)
    plant(lockPath, { pid: deadPid(), createdAt: iso() })
    assert.equal((await attempt(t, role, file, 3000)).event, 'acquired')
  })

  test(`${role}: a recycled pid (live pid, different start time) is taken over`, async (t) => {
    const { file, lockPath } = tempSession(t)
    // The legacy lock records start times on Linux only; ours also on Windows (process creation time).
    const recorded = process.platform === 'linux' || (process.platform === 'win32' && role === 'native')
    if (!recorded) return t.skip(`no start times in ${role} payloads on ${process.platform}`)
    plant(lockPath, { pid: LIVE, createdAt: iso(), starttime: 123456789 })
    assert.equal((await attempt(t, role, file, 3000)).event, 'acquired')
  })

  test(`${role}: a too-old lock of a live pid is ${role === 'native' ? 'reported, and waited for' : 'taken over (2026.2 to 2026.5)'}`, async (t) => {
    const { file, lockPath } = tempSession(t)
    plant(lockPath, { pid: LIVE, createdAt: iso(HOUR) })
    if (role === 'legacy') return assert.equal((await attempt(t, role, file, 3000)).event, 'acquired')
    // Its holder may legitimately hold longer than staleMs (2026.4 runs get maxHoldMs = timeout + 2 min).
    const ev = await attempt(t, role, file, 400)
    assert.equal(ev.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
    assert.equal(JSON.parse(fs.readFileSync(lockPath, 'utf8')).pid, LIVE, 'left alone')
  })

  test(`${role}: a fresh malformed {} is kept, an old one is reclaimed`, async (t) => {
    const { file, lockPath } = tempSession(t)
    plant(lockPath, '{}')
    assert.equal((await attempt(t, role, file, 400)).event, 'error')
    assert.equal(fs.readFileSync(lockPath, 'utf8'), '{}')
    plant(lockPath, '{}', HOUR)
    assert.equal((await attempt(t, role, file, 3000)).event, 'acquired')
  })

  test(`${role}: an orphan lock naming the acquirer's own pid is taken over`, async (t) => {
    const { file } = tempSession(t)
    const child = lockChild(t, ['orphan-self', file, '3000'], env(role))
    assert.equal((await child.waitFor('acquired')).event, 'acquired')
  })

  test(`${role}: our crash leftover is taken over (ours at once, legacy through its dead pid)`, async (t) => {
    const { file, lockPath } = tempSession(t)
    const holder = lockChild(t, ['hold', file])
    await holder.waitFor('held')
    holder.kill('SIGKILL')
    await holder.exited
    assert.equal(JSON.parse(fs.readFileSync(lockPath, 'utf8')).kernelLock, true)
    const ev = await attempt(t, role, file, 3000)
    assert.equal(ev.event, 'acquired')
    if (role === 'native') assert.ok(Number(ev.waitedMs) < 1000, `waited ${ev.waitedMs} ms`)
  })
}

test('an empty sidecar someone else created counts as a holder writing its payload, for 30 s', async (t) => {
  const { file, lockPath } = tempSession(t)
  plant(lockPath, '', 29_000)
  const busy = await withSessionWriteLock(file, { acquireTimeoutMs: 300 }, () => {}).catch((e) => e)
  assert.equal(busy.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  plant(lockPath, '', 31_000)
  const before = sessionLockStats().legacyTakeovers
  await withSessionWriteLock(file, { acquireTimeoutMs: 1000 }, () => {})
  assert.equal(sessionLockStats().legacyTakeovers, before + 1)
})

test('our payload is refreshed while held, so a legacy waiter never judges a live hold too old', async (t) => {
  const { file, lockPath } = tempSession(t)
  const staleMs = 2500
  await withSessionWriteLock(file, { staleMs }, async () => {
    const first = JSON.parse(fs.readFileSync(lockPath, 'utf8')).createdAt
    // A legacy process with the same short stale window tries for longer than that window.
    const ev = await attempt(t, 'legacy', file, 4000, staleMs)
    assert.equal(ev.event, 'error', 'the legacy waiter must not take over a live hold')
    const later = JSON.parse(fs.readFileSync(lockPath, 'utf8')).createdAt
    assert.ok(Date.parse(later) > Date.parse(first), `createdAt was not refreshed: ${first} -> ${later}`)
  })
})

test('a 2026.5+ holder past its maxHoldMs is waited for until its own watchdog had two chances, then taken over', async (t) => {
  const { file, lockPath } = tempSession(t)
  const live = livePid(t)
  // Past maxHoldMs by 5 s: its watchdog (every 60 s) may not have run yet; it is alive.
  plant(lockPath, { pid: live, createdAt: iso(6_000), maxHoldMs: 1000 })
  const busy = await withSessionWriteLock(file, { acquireTimeoutMs: 300 }, () => {}).catch((e) => e)
  assert.equal(busy.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  const [report] = inspectSessionLocks(path.dirname(lockPath))
  assert.deepEqual([report.stale, report.staleReasons], [false, ['hold-exceeded']])
  // Past it by more than two watchdog intervals: by its own rules it has released; it is frozen or gone.
  plant(lockPath, { pid: live, createdAt: iso(1000 + 121_000), maxHoldMs: 1000 })
  const before = sessionLockStats().legacyTakeovers
  await withSessionWriteLock(file, { acquireTimeoutMs: 1000 }, () => {})
  assert.equal(sessionLockStats().legacyTakeovers, before + 1)
})

test('a malformed sidecar is kept for 30 s unchanged, then taken over', async (t) => {
  const { file, lockPath } = tempSession(t)
  plant(lockPath, '{"pid": 12', 29_000) // a payload cut short
  const busy = await withSessionWriteLock(file, { acquireTimeoutMs: 300 }, () => {}).catch((e) => e)
  assert.equal(busy.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  plant(lockPath, '{"pid": 12', 31_000)
  await withSessionWriteLock(file, { acquireTimeoutMs: 1000 }, () => {})
})
