// The drop-in surface for OpenClaw 2026.2 to 2026.7 gateways, in this process and in real child
// processes: abort signals, test-state helpers, termination signals, error detection. The comparison
// with each generation's own published code is in generations.spec.ts.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import { test } from 'node:test'

import * as api from '../index.js'
import { Child, generationChild, lockChild, sleep, tempSession } from './helpers'

const {
  acquireSessionWriteLock,
  appendSessionEntries,
  drainSessionWriteLockStateForTest,
  isSessionWriteLockAcquireError,
  isSessionWriteLockStaleError,
  isSessionWriteLockTimeoutError,
  resetSessionWriteLockStateForTest,
  SessionWriteLockStaleError,
  SessionWriteLockTimeoutError,
  withSessionWriteLock,
} = api

test('every name a 2026.2 to 2026.7 gateway imports from the lock and its error module is exported', () => {
  const names = [
    'acquireSessionWriteLock',
    'cleanStaleLockFiles',
    'resolveSessionLockMaxHoldFromTimeout',
    'resolveSessionWriteLockOptions',
    'resolveSessionWriteLockAcquireTimeoutMs',
    'resolveSessionWriteLockStaleMs',
    'resolveSessionWriteLockMaxHoldMs',
    'DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS',
    'DEFAULT_SESSION_WRITE_LOCK_STALE_MS',
    'DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS',
    'resetSessionWriteLockStateForTest',
    'drainSessionWriteLockStateForTest',
    'SessionWriteLockTimeoutError',
    'SessionWriteLockStaleError',
    'isSessionWriteLockTimeoutError',
    'isSessionWriteLockAcquireError',
  ]
  assert.deepEqual(
    names.filter((n) => !(n in api)),
    [],
  )
  assert.deepEqual(
    [
      api.DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS,
      api.DEFAULT_SESSION_WRITE_LOCK_STALE_MS,
      api.DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS,
    ],
    [60_000, 1_800_000, 300_000],
  )
})

test('a timeout from any entry point carries the code every 2026.5+ detector looks for', async (t) => {
  const { file } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  const errors = [
    await withSessionWriteLock(file, { acquireTimeoutMs: 50 }, () => {}).catch((e) => e),
    await appendSessionEntries(file, { x: 1 }, { acquireTimeoutMs: 50 }).catch((e) => e),
    await acquireSessionWriteLock({ sessionFile: file, timeoutMs: 50 }).catch((e) => e),
  ]
  for (const err of errors) {
    assert.ok(err instanceof SessionWriteLockTimeoutError)
    assert.equal(err.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
    assert.equal(err.reason, 'session_busy')
    assert.equal(err.timeoutMs, 50)
    assert.match(
      err.message,
      new RegExp(`^session file locked \\(timeout 50ms\\): pid=${holder.pid} alive=true ageMs=\\d+ `),
    )
    assert.equal(`${err.owner}`.split(' ').slice(0, 2).join(' '), `pid=${holder.pid} alive=true`)
    assert.equal(err.owner.pid, holder.pid)
    assert.ok(isSessionWriteLockTimeoutError(err) && isSessionWriteLockAcquireError(err))
    assert.ok(!isSessionWriteLockStaleError(err))
  }
  // The legacy constructors, and errors of other copies (by code), are recognised too.
  const legacy = new SessionWriteLockTimeoutError({ timeoutMs: 10, owner: 'pid=1', lockPath: '/s.jsonl.lock' })
  assert.equal(legacy.message, 'session file locked (timeout 10ms): pid=1 /s.jsonl.lock')
  const stale = new SessionWriteLockStaleError({ owner: 'pid=1', lockPath: '/s.jsonl.lock', staleReasons: ['too-old'] })
  assert.equal(stale.message, 'session file lock stale (too-old): pid=1 /s.jsonl.lock')
  assert.ok(
    isSessionWriteLockAcquireError(stale) &&
      isSessionWriteLockStaleError(stale) &&
      !isSessionWriteLockTimeoutError(stale),
  )
  const foreign = Object.assign(new Error('x'), { code: 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT' })
  assert.ok(isSessionWriteLockTimeoutError(foreign))
  for (const other of [
    null,
    undefined,
    'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT',
    new Error('session file locked'),
    { code: 'SESSION_WRITE_LOCK_LOST' },
  ]) {
    assert.ok(!isSessionWriteLockAcquireError(other), String(other))
  }
  holder.send('release') // before the directory goes: Windows keeps a file that is open
  await holder.exited
})

/** Runs `fn` from an event of its own, as the gateway runs each message: not nested in this test's flow. */
const elsewhere = <T>(fn: () => Promise<T>) =>
  new Promise<T>((resolve, reject) => setImmediate(() => fn().then(resolve, reject)))

test('drop-in signal: an abort while waiting rejects with the signal reason, and the queue moves on', async (t) => {
  const { file, lockPath } = tempSession(t)
  const holder = await elsewhere(() => acquireSessionWriteLock({ sessionFile: file }))
  const controller = new AbortController()
  const why = new Error('the run was cancelled')
  const waiting = acquireSessionWriteLock({ sessionFile: file, timeoutMs: 10_000, signal: controller.signal })
  await sleep(50)
  const started = performance.now()
  controller.abort(why)
  assert.equal(await waiting.catch((e) => e), why)
  assert.ok(performance.now() - started < 100, 'rejected at once')
  // A reason that is not an Error: an AbortError whose cause is the reason.
  const other = new AbortController()
  const second = acquireSessionWriteLock({ sessionFile: file, signal: other.signal })
  other.abort('stop')
  const err = await second.catch((e) => e)
  assert.deepEqual([err.name, err.message, err.cause], ['AbortError', 'request aborted', 'stop'])
  // Already aborted: rejected before anything is touched.
  const pre = await acquireSessionWriteLock({ sessionFile: `${file}.other`, signal: AbortSignal.abort(why) }).catch(
    (e) => e,
  )
  assert.equal(pre, why)
  assert.equal(fs.existsSync(`${lockPath.slice(0, -5)}.other.lock`), false)
  // The aborted waiters left the queue: the next one gets the lock when the holder lets go.
  const third = acquireSessionWriteLock({ sessionFile: file, signal: new AbortController().signal, timeoutMs: 5000 })
  await holder.release()
  await (await third).release()
  assert.equal(fs.existsSync(lockPath), false)
})

test('resetSessionWriteLockStateForTest and drainSessionWriteLockStateForTest end every hold of this thread', async (t) => {
  const a = tempSession(t, 'a.jsonl')
  const b = tempSession(t, 'b.jsonl')
  for (const end of [resetSessionWriteLockStateForTest, drainSessionWriteLockStateForTest]) {
    const first = await acquireSessionWriteLock({ sessionFile: a.file })
    let inside: api.SessionWriteLock | undefined
    let release!: () => void
    const callback = withSessionWriteLock(b.file, (lock) => {
      inside = lock
      return new Promise<void>((resolve) => (release = resolve))
    })
    await sleep(20)
    assert.ok(fs.existsSync(a.lockPath) && fs.existsSync(b.lockPath))
    await end()
    assert.ok(!fs.existsSync(a.lockPath) && !fs.existsSync(b.lockPath), 'both sidecars removed')
    // Another process gets both at once.
    for (const s of [a, b]) {
      const other = lockChild(t, ['acquire', s.file, '1000'])
      await other.exited
      assert.ok(
        other.events.some((e) => e.event === 'acquired'),
        other.stderr,
      )
    }
    assert.throws(() => inside!.append({ late: true }), { code: 'SESSION_WRITE_LOCK_LOST' })
    assert.equal(inside!.signal.aborted, true)
    release()
    await callback
    await first.release() // a no-op now
  }
})

test('an environment value a 2026.5+ resolver skips does not fail a call that passes the limit itself', async (t) => {
  const { file } = tempSession(t)
  const env = { OPENCLAW_SESSION_WRITE_LOCK_STALE_MS: '30m' } // 2026.5+ resolvers fall back to the default
  const explicit = generationChild(t, 'ours', ['acquire', file, '1000', '1800000'], { env })
  await explicit.exited
  assert.ok(
    explicit.events.some((e) => e.event === 'acquired'),
    explicit.stderr,
  )
  // A caller that leaves staleMs to the configuration is told what is wrong with it.
  const implicit = generationChild(t, 'ours', ['acquire', file, '1000'], { env })
  await implicit.exited
  const err = implicit.events.find((e) => e.event === 'error')
  assert.equal(err?.code, 'SESSION_WRITE_LOCK_CONFIG')
  assert.match(String(err?.message), /OPENCLAW_SESSION_WRITE_LOCK_STALE_MS/)
})

function signalChild(
  t: Parameters<typeof tempSession>[0],
  file: string,
  how: 'with' | 'dropin',
  listen: 'none' | 'app',
) {
  const child = new Child('signal-child.js', [file, how, listen])
  t.after(() => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.kill()
  })
  return child
}

const POSIX = process.platform !== 'win32'

for (const signal of ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGABRT'] as const) {
  for (const how of ['with', 'dropin'] as const) {
    test(
      `${signal} with no other listener: the ${how} holder removes its sidecar and ends by the signal`,
      { skip: !POSIX && 'POSIX signals' },
      async (t) => {
        const { file, lockPath } = tempSession(t)
        const child = signalChild(t, file, how, 'none')
        await child.waitFor('held')
        assert.ok(fs.existsSync(lockPath))
        child.kill(signal)
        await child.exited
        assert.equal(child.proc.signalCode, signal, `ended by ${signal} (${child.stderr})`)
        assert.equal(fs.existsSync(lockPath), false, 'no sidecar left behind')
      },
    )
  }
}

for (const how of ['with', 'dropin'] as const) {
  test(
    `SIGTERM with an application listener: the ${how} hold ends, the process lives, later writes are refused`,
    { skip: !POSIX && 'POSIX signals' },
    async (t) => {
      const { file } = tempSession(t)
      const child = signalChild(t, file, how, 'app')
      await child.waitFor('held')
      child.kill('SIGTERM')
      const after = await child.waitFor('after')
      assert.equal(after.sidecarLeft, false, 'the sidecar went at the signal')
      assert.equal(after.signal, 'SIGTERM')
      if (how === 'with') {
        assert.deepEqual([after.held, after.signalAborted, after.append], [false, true, 'SESSION_WRITE_LOCK_LOST'])
      }
      assert.equal(after.nested, 'SESSION_WRITE_LOCK_LOST', 'a nested append must not acquire anew')
      assert.equal(after.nestedWith, 'SESSION_WRITE_LOCK_LOST')
      assert.equal((await child.waitFor('fresh')).result, 'ok')
      assert.equal(await child.exited, 0)
      const lines = fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      assert.deepEqual(lines, [{ fresh: true }], 'nothing was written through the ended hold')
    },
  )
}
