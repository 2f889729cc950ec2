// Cross-process behaviour: real child processes, real SIGKILL, a shared witness file.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'

import { withSessionWriteLock, sessionLockStats } from '../index.js'
import { contend, lockChild, sleep, tempSession } from './helpers'

async function contendNative(t: Parameters<typeof tempSession>[0], processes: number, each: number) {
  const r = await contend(t, Array(processes).fill('native'), each)
  assert.equal(r.overlaps, '', 'two holders were inside at once')
  assert.equal(r.counter, r.total, 'an increment was lost to an overlap')
  assert.equal(r.tail, '', 'the transcript ends with a whole line')
  assert.equal(r.lines.length, r.total, 'every line is present and parses')
  assert.equal(r.sidecarLeft, false, 'no sidecar is left behind')
}

test('two processes contending never overlap', async (t) => {
  await contendNative(t, 2, 200)
})

test('four processes contending never overlap', async (t) => {
  await contendNative(t, 4, 100)
})

test('a SIGKILLed holder is replaced by a waiting process at once, not after a stale timeout', async (t) => {
  const { file, lockPath } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  // The waiter's own timeout is the bound: it must not wait for any staleness rule.
  const waiter = lockChild(t, ['acquire', file, '5000'])
  await sleep(300) // let it start waiting; the test holds either way
  assert.ok(fs.existsSync(lockPath))
  const killedAt = performance.timeOrigin + performance.now()
  holder.kill('SIGKILL')
  const got = await waiter.waitFor('acquired')
  assert.ok(got.t - killedAt < 2000, `handoff after SIGKILL took ${got.t - killedAt} ms`)
  assert.equal(await waiter.exited, 0)
  assert.equal(fs.existsSync(lockPath), false)
})

test('a crash leftover (kernel payload, dead holder) is recovered at once by the next acquirer', async (t) => {
  const { file, lockPath } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  holder.kill('SIGKILL')
  await holder.exited
  const payload = JSON.parse(fs.readFileSync(lockPath, 'utf8'))
  assert.equal(payload.pid, holder.pid)
  assert.equal(payload.kernelLock, true)
  const before = sessionLockStats().recoveries
  await withSessionWriteLock(file, { acquireTimeoutMs: 0 }, () => {})
  assert.equal(sessionLockStats().recoveries, before + 1)
  assert.equal(fs.existsSync(lockPath), false)
})

for (const how of ['exit', 'throw']) {
  test(`a holder that exits (${how}) while holding leaves nothing to wait for`, async (t) => {
    const { file } = tempSession(t)
    const holder = lockChild(t, ['exit-while-holding', file, how])
    await holder.waitFor('held')
    await holder.exited
    await withSessionWriteLock(file, { acquireTimeoutMs: 0 }, () => {})
  })
}

test('a child spawned while the lock is held does not keep it after the parent releases', async (t) => {
  const { file } = tempSession(t)
  const parent = lockChild(t, ['spawn-while-holding', file])
  const { grandchild } = await parent.waitFor('released')
  t.after(() => {
    try {
      process.kill(grandchild as number, 'SIGKILL')
    } catch {}
  })
  // The grandchild is alive and would hold the lock had it inherited the descriptor.
  process.kill(grandchild as number, 0)
  const other = lockChild(t, ['acquire', file, '0'])
  const result = await other.waitFor('acquired').catch(() => other.events)
  assert.equal((result as { event: string }).event, 'acquired', JSON.stringify(result))
  parent.proc.stdin!.end()
})

test('a lock held by another process times out with the legacy message and the owner', async (t) => {
  const { file, lockPath } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  const err = await withSessionWriteLock(file, { acquireTimeoutMs: 150 }, () => {}).catch((e) => e)
  assert.equal(err.name, 'SessionWriteLockTimeoutError')
  assert.equal(err.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  assert.equal(err.reason, 'session_busy')
  assert.equal(err.lockPath, lockPath)
  assert.equal(err.timeoutMs, 150)
  assert.ok(err.waitedMs >= 150 && err.waitedMs < 5000, String(err.waitedMs))
  assert.deepEqual(
    { ...err.owner, heldForMs: undefined },
    {
      pid: holder.pid,
      alive: true,
      kind: 'kernel',
      heldForMs: undefined,
      label: null,
      hostname: os.hostname(),
      process: 'lock-child.js',
    },
  )
  assert.ok(err.owner.heldForMs >= 150)
  assert.match(err.message, new RegExp(`^session file locked \\(timeout 150ms\\): pid=${holder.pid} `))
  holder.send('release')
  await holder.waitFor('released')
})

test('sync throw, rejection and plain return each release the lock, seen from another process', async (t) => {
  const { file } = tempSession(t)
  const endings: Array<() => unknown> = [
    () => {
      throw new Error('sync')
    },
    async () => {
      throw new Error('async')
    },
    () => 42,
  ]
  for (const fn of endings) {
    await withSessionWriteLock(file, {}, fn).catch(() => {})
    const other = lockChild(t, ['acquire', file, '0'])
    assert.equal((await other.waitFor('acquired')).event, 'acquired')
    await other.exited
  }
})

test('fifty waiters on a lock held elsewhere block neither timers nor the threadpool', async (t) => {
  const { file, dir } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  const waiters = Array.from({ length: 50 }, () => withSessionWriteLock(file, { acquireTimeoutMs: 30_000 }, () => {}))
  // Timers: a 10 ms interval keeps its pace while everyone waits.
  const ticks: number[] = []
  await new Promise<void>((resolve) => {
    let last = performance.now()
    const iv = setInterval(() => {
      const now = performance.now()
      ticks.push(now - last)
      last = now
      if (ticks.length === 30) {
        clearInterval(iv)
        resolve()
      }
    }, 10)
  })
  assert.ok(Math.max(...ticks) < 250, `a timer was late by ${Math.max(...ticks)} ms`)
  // Threadpool: with 50 waiters, libuv's 4 workers must still be free for fs calls.
  fs.writeFileSync(`${dir}/probe`, 'x')
  const probe = await Promise.race([
    fs.promises.readFile(`${dir}/probe`, 'utf8'),
    new Promise((resolve) => setTimeout(() => resolve('starved'), 3000)),
  ])
  assert.equal(probe, 'x')
  holder.send('release')
  await Promise.all(waiters)
})

test('the sidecar is never followed through a symlink; its target stays untouched', async (t) => {
  const { file, dir, lockPath } = tempSession(t)
  const victim = path.join(dir, 'victim')
  fs.writeFileSync(victim, 'precious')
  try {
    fs.symlinkSync(victim, lockPath)
  } catch (e) {
    // Windows lets only administrators and developer mode create symlinks.
    if (process.platform === 'win32') return t.skip(`cannot create a symlink here: ${(e as Error).message}`)
    throw e
  }
  if (process.platform === 'win32' && !fs.lstatSync(lockPath, { throwIfNoEntry: false })?.isSymbolicLink()) {
    return t.skip('symlink creation reports success but makes nothing (Wine)')
  }
  const err = await withSessionWriteLock(file, {}, () => {}).catch((e) => e)
  assert.equal(err.code, 'SESSION_WRITE_LOCK_UNSAFE_PATH')
  assert.equal(err.path, lockPath)
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious')
  assert.ok(fs.lstatSync(lockPath).isSymbolicLink(), 'the planted link is left in place')
})

test('no descriptor of the sidecar survives exec (O_CLOEXEC)', (t) => {
  // Cross-check with /proc: a shell started while we hold the lock lists no descriptor on the sidecar.
  const { file, lockPath } = tempSession(t)
  if (process.platform !== 'linux') return t.skip('needs /proc (std opens Windows handles non-inheritable)')
  return withSessionWriteLock(file, {}, () => {
    const out = spawnSync('sh', ['-c', 'ls -l /proc/$$/fd'], { encoding: 'utf8' }).stdout
    assert.equal(out.includes(lockPath), false, out)
  })
})
