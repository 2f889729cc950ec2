// In-process behaviour of withSessionWriteLock: pass-through, release on every path, FIFO, reentrancy,
// abort, errors and argument checks.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import util from 'node:util'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'

import {
  withSessionWriteLock,
  withSessionWriteLockSync,
  sessionLockStats,
  SessionWriteLockAbortedError,
  SessionWriteLockLostError,
  SessionWriteLockTimeoutError,
} from '../index.js'
import { sleep, tempSession } from './helpers'

class QuotaExceeded extends Error {
  code = 'MODEL_QUOTA_EXCEEDED'
}

test('the callback value passes through, and the sidecar carries our payload while held', async (t) => {
  const { file, lockPath } = tempSession(t)
  const value = { answer: 42 }
  const out = await withSessionWriteLock(file, {}, (lock) => {
    assert.equal(lock.lockPath, lockPath)
    assert.equal(lock.sessionFile, path.resolve(file))
    assert.equal(lock.held, true)
    const payload = JSON.parse(fs.readFileSync(lockPath, 'utf8'))
    assert.equal(payload.pid, process.pid)
    assert.equal(typeof payload.createdAt, 'string')
    assert.equal(payload.kernelLock, true)
    if (process.platform !== 'win32') assert.equal((fs.statSync(lockPath).mode & 0o777).toString(8), '600')
    return value
  })
  assert.equal(out, value)
  assert.equal(fs.existsSync(lockPath), false, 'no .lock file is left after release')
})

test('the very same thrown object comes back: an Error subclass with its code, or a string', async (t) => {
  const { file } = tempSession(t)
  const quota = new QuotaExceeded('Model API quota exceeded')
  for (const thrown of [quota, 'plain string', 7]) {
    const sync = await withSessionWriteLock(file, {}, () => {
      throw thrown
    }).catch((e) => e)
    assert.equal(sync, thrown)
    const rejected = await withSessionWriteLock(file, {}, async () => {
      throw thrown
    }).catch((e) => e)
    assert.equal(rejected, thrown)
  }
  assert.equal(quota.code, 'MODEL_QUOTA_EXCEEDED')
})

test('sync throw, rejection and plain return each release the lock for this process too', async (t) => {
  const { file, lockPath } = tempSession(t)
  const endings = [
    () => {
      throw new Error('sync')
    },
    () => Promise.reject(new Error('rejected')),
    () => 'plain',
    async () => 'resolved',
  ]
  for (const fn of endings) {
    await withSessionWriteLock(file, {}, fn).catch(() => {})
    assert.equal(fs.existsSync(lockPath), false)
    // acquireTimeoutMs 0: anything still held would fail at once.
    await withSessionWriteLock(file, { acquireTimeoutMs: 0 }, () => {})
  }
})

test('a hundred concurrent callers run one at a time, in arrival order', async (t) => {
  const { file } = tempSession(t)
  const order: number[] = []
  let inside = 0
  let maxInside = 0
  await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      withSessionWriteLock(file, {}, async () => {
        inside++
        maxInside = Math.max(maxInside, inside)
        order.push(i)
        await new Promise((r) => setImmediate(r))
        inside--
      }),
    ),
  )
  assert.equal(maxInside, 1)
  assert.deepEqual(
    order,
    Array.from({ length: 100 }, (_, i) => i),
  )
})

test('calls for different session files never wait on each other', async (t) => {
  const a = tempSession(t, 'a.jsonl')
  const b = tempSession(t, 'b.jsonl')
  await withSessionWriteLock(a.file, {}, async () => {
    const got = await withSessionWriteLock(b.file, { acquireTimeoutMs: 0 }, () => 'b')
    assert.equal(got, 'b')
  })
})

test('a nested call in the same async context re-enters; reentrant: false refuses at once', async (t) => {
  const { file } = tempSession(t)
  await withSessionWriteLock(file, {}, async (outer) => {
    await sleep(1)
    const inner = await withSessionWriteLock(file, { acquireTimeoutMs: 0 }, async (lock) => {
      assert.equal(lock, outer)
      return withSessionWriteLock(path.relative(process.cwd(), file), {}, () => 'deep')
    })
    assert.equal(inner, 'deep')
    assert.equal(outer.held, true, 'the nested call must not release the outer hold')
    const err = await withSessionWriteLock(file, { reentrant: false }, () => {}).catch((e) => e)
    assert.equal(err.code, 'SESSION_WRITE_LOCK_REENTRANT')
    assert.equal(err.lockPath, outer.lockPath)
  })
})

test('an unrelated caller queues behind the holder instead of re-entering', async (t) => {
  const { file } = tempSession(t)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const events: string[] = []
  const first = withSessionWriteLock(file, {}, async () => {
    events.push('first in')
    await gate
    events.push('first out')
  })
  await sleep(5)
  const second = withSessionWriteLock(file, {}, () => events.push('second in'))
  await sleep(20)
  assert.deepEqual(events, ['first in'])
  release()
  await Promise.all([first, second])
  assert.deepEqual(events, ['first in', 'first out', 'second in'])
})

test('a call started inside the callback but run after release does not re-enter a released lock', async (t) => {
  const { file, lockPath } = tempSession(t)
  let later!: Promise<unknown>
  await withSessionWriteLock(file, {}, () => {
    later = sleep(10).then(() =>
      withSessionWriteLock(file, {}, (lock) => {
        assert.equal(lock.held, true)
        assert.ok(fs.existsSync(lockPath), 'a real acquisition, with its own sidecar')
      }),
    )
  })
  await later
})

test('the timeout error carries its fields when this process holds the lock', async (t) => {
  const { file, lockPath } = tempSession(t)
  await withSessionWriteLock(file, {}, async () => {
    const err = await withSessionWriteLock(file, { acquireTimeoutMs: 30, reentrant: true }, () => {})
      .then(() => 'no error')
      .catch((e) => e)
    // Called from inside the callback, so this re-enters: no error.
    assert.equal(err, 'no error')
  })
  let release!: () => void
  const holding = withSessionWriteLock(file, { owner: 'run-7 telegram' }, () => new Promise<void>((r) => (release = r)))
  await sleep(5)
  const err = await withSessionWriteLock(file, { acquireTimeoutMs: 30 }, () => {}).catch((e) => e)
  assert.ok(err instanceof SessionWriteLockTimeoutError)
  assert.equal(err.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  assert.equal(err.reason, 'session_busy')
  assert.equal(err.lockPath, lockPath)
  assert.equal(err.timeoutMs, 30)
  assert.ok(err.waitedMs >= 30)
  assert.deepEqual(
    { ...err.owner, heldForMs: undefined },
    {
      pid: process.pid,
      alive: true,
      kind: 'in-process',
      heldForMs: undefined,
      // Who holds, in words: its owner option, its machine and its program.
      label: 'run-7 telegram',
      hostname: os.hostname(),
      process: path.basename(process.argv[1]),
    },
  )
  assert.ok(err.owner.heldForMs! >= 30)
  assert.ok(err.message.startsWith('session file locked (timeout 30ms)'))
  release()
  await holding
})

test('an AbortSignal aborts a wait with SESSION_WRITE_LOCK_ABORTED and its reason as cause', async (t) => {
  const { file, lockPath } = tempSession(t)
  let release!: () => void
  const holding = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (release = r)))
  await sleep(5)
  const controller = new AbortController()
  const started = performance.now()
  const waiting = withSessionWriteLock(file, { signal: controller.signal }, () => 'ran').catch((e) => e)
  await sleep(30)
  const reason = new Error('user went away')
  controller.abort(reason)
  const err = await waiting
  const elapsed = performance.now() - started
  assert.ok(err instanceof SessionWriteLockAbortedError)
  assert.equal(err.code, 'SESSION_WRITE_LOCK_ABORTED')
  assert.equal(err.lockPath, lockPath)
  assert.equal(err.cause, reason)
  // The wait it reports is the one it had: most of the 30 ms before the abort (a timer may fire a
  // little early), and no more than the whole call took.
  assert.ok(err.waitedMs >= 20 && err.waitedMs <= elapsed + 1, `waitedMs ${err.waitedMs}, call ${elapsed}`)
  // An already-aborted signal fails before touching anything.
  const early = await withSessionWriteLock(file, { signal: AbortSignal.abort() }, () => {}).catch((e) => e)
  assert.equal(early.code, 'SESSION_WRITE_LOCK_ABORTED')
  release()
  await holding
  // The queue moved on: the aborted waiter did not leave the session wedged.
  await withSessionWriteLock(file, { acquireTimeoutMs: 0 }, () => {})
})

test('acquireTimeoutMs: Infinity waits as long as it takes', async (t) => {
  const { file } = tempSession(t)
  let release!: () => void
  const holding = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (release = r)))
  const waiting = withSessionWriteLock(file, { acquireTimeoutMs: Infinity }, () => 'got it')
  await sleep(50)
  release()
  assert.equal(await waiting, 'got it')
  await holding
})

test('each wait gets its one notice at its own noticeAfterMs, and a wait that ended first gets none', async (t) => {
  const { file } = tempSession(t)
  let release!: () => void
  const holding = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (release = r)))
  const notices: Array<{ who: string; waitedMs: number }> = []
  const waiter = (who: string, noticeAfterMs: number, signal?: AbortSignal) =>
    withSessionWriteLock(
      file,
      { noticeAfterMs, signal, onWait: (n) => notices.push({ who, waitedMs: n.waitedMs }) },
      () => who,
    )
  const early = waiter('early', 100, AbortSignal.timeout(40)).catch((e) => e.code)
  const late = waiter('late', 400)
  const soon = waiter('soon', 100)
  const again = waiter('again', 100)
  await sleep(250)
  assert.deepEqual(notices.map((n) => n.who).sort(), ['again', 'soon'], 'the 100 ms waits noticed, not the ended one')
  await sleep(350)
  assert.deepEqual(notices.map((n) => n.who).sort(), ['again', 'late', 'soon'])
  for (const n of notices)
    assert.ok(n.waitedMs >= (n.who === 'late' ? 400 : 100), `${n.who} noticed early: ${n.waitedMs}`)
  release()
  assert.deepEqual(await Promise.all([early, late, soon, again]), [
    'SESSION_WRITE_LOCK_ABORTED',
    'late',
    'soon',
    'again',
  ])
  await holding
  assert.equal(notices.length, 3, 'one notice each, never two')
})

test('thousands of waits that end behind a long one leave the notices of the waits still going intact', async (t) => {
  const long = tempSession(t, 'long.jsonl').file
  const busy = tempSession(t, 'busy.jsonl').file
  const notices: string[] = []
  const opts = (who: string) => ({ noticeAfterMs: 700, onWait: () => notices.push(who) })
  const hold = (file: string) => {
    let release!: () => void
    const held = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (release = r)))
    return { held, release: () => release() }
  }
  const first = hold(long)
  const head = withSessionWriteLock(long, opts('head'), () => 'head') // its notice is due first
  const b = hold(busy)
  const started = performance.now()
  const waitedMs: number[] = []
  const behind = Array.from({ length: 1500 }, (_, i) =>
    withSessionWriteLock(busy, opts(`behind-${i}`), () => (waitedMs[i] = performance.now() - started)),
  )
  await sleep(20)
  b.release()
  await Promise.all(behind) // 1500 waits ended out of order, behind the head's
  await b.held
  const b2 = hold(busy)
  const last = withSessionWriteLock(busy, opts('last'), () => 'last')
  await sleep(1200)
  assert.ok(notices.includes('head') && notices.includes('last'), `notices: ${notices.slice(0, 5)}`)
  // Only a wait that lasted its noticeAfterMs gets a notice (here none does, unless the machine is slow:
  // under Wine the 1500 waits take many seconds).
  for (const n of notices.filter((n) => n.startsWith('behind-'))) {
    const ms = waitedMs[Number(n.slice('behind-'.length))]
    assert.ok(ms >= 690, `${n} got a notice after waiting ${ms} ms`)
  }
  const noticed = new Set(notices)
  waitedMs.forEach((ms, i) => {
    if (ms < 600) assert.ok(!noticed.has(`behind-${i}`), `behind-${i} waited ${ms} ms`)
  })
  assert.equal(new Set(notices).size, notices.length, 'one notice per wait')
  first.release()
  b2.release()
  assert.deepEqual(await Promise.all([head, last]), ['head', 'last'])
  await Promise.all([first.held, b2.held])
})

test('a lock granted after a wait names the canonical sidecar, even through a symlinked directory', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  const link = `${dir}-link`
  try {
    fs.symlinkSync(dir, link, 'dir')
  } catch (err) {
    return t.skip(`no directory symlinks here: ${(err as Error).message}`)
  }
  t.after(() => fs.rmSync(link, { recursive: true, force: true })) // a symlink: removed, not followed
  const viaLink = path.join(link, path.basename(file))
  // Wine's CreateSymbolicLink makes a link that is not resolved: there is nothing canonical to check.
  const uncontended = await withSessionWriteLock(viaLink, {}, (lock) => lock.lockPath)
  if (uncontended !== lockPath) return t.skip(`the link is not resolved here (${uncontended})`)
  let release!: () => void
  const holding = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (release = r)))
  const waited = withSessionWriteLock(viaLink, {}, (lock) => lock.lockPath)
  await sleep(20)
  release()
  assert.equal(await waited, lockPath)
  await holding
})

test('a relative session path is resolved against the working directory of its acquisition', async (t) => {
  const { dir, file } = tempSession(t)
  const cwd = process.cwd()
  t.after(() => process.chdir(cwd))
  process.chdir(dir)
  const here = process.cwd()
  const seen = await withSessionWriteLock(path.basename(file), {}, (lock) => {
    process.chdir(os.tmpdir())
    return lock.sessionFile
  })
  assert.equal(seen, path.join(here, path.basename(file)))
})

test('the lock object is dead once its callback has settled', async (t) => {
  const { file } = tempSession(t)
  const lock = await withSessionWriteLock(file, {}, (l) => l)
  assert.equal(lock.held, false)
  assert.throws(() => lock.assertHeld(), SessionWriteLockLostError)
})

test('the sync twin holds, passes values and errors through, and releases', (t) => {
  const { file, lockPath } = tempSession(t)
  assert.equal(
    withSessionWriteLockSync(file, {}, (lock) => {
      assert.ok(fs.existsSync(lockPath))
      return lock.held
    }),
    true,
  )
  const boom = new QuotaExceeded('sync')
  assert.throws(
    () =>
      withSessionWriteLockSync(file, () => {
        throw boom
      }),
    (e) => e === boom,
  )
  assert.equal(fs.existsSync(lockPath), false)
})

test('worker threads share the per-session queue of the process', async (t) => {
  const { file } = tempSession(t)
  let release!: () => void
  const holding = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (release = r)))
  await sleep(5)
  const src = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { withSessionWriteLock } = require(${JSON.stringify(path.join(__dirname, '..', 'index.js'))})
    withSessionWriteLock(workerData, { acquireTimeoutMs: 50 }, () => 'acquired')
      .then((v) => parentPort.postMessage(v), (e) => parentPort.postMessage(e.code))
  `
  const run = () =>
    new Promise((resolve, reject) => {
      const w = new Worker(src, { eval: true, workerData: file })
      w.once('message', (m) => {
        resolve(m)
        w.terminate()
      })
      w.once('error', reject)
    })
  assert.equal(await run(), 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  release()
  await holding
  assert.equal(await run(), 'acquired')
})

test('bad arguments are rejected before the disk is touched', async (t) => {
  const { dir, file } = tempSession(t)
  const cases: Array<[unknown, unknown, unknown, string]> = [
    [42, {}, () => {}, 'ERR_INVALID_ARG_TYPE'],
    ['', {}, () => {}, 'ERR_INVALID_ARG_VALUE'],
    [`${dir}/a\0b`, {}, () => {}, 'ERR_INVALID_ARG_VALUE'],
    [file, {}, 'not a function', 'ERR_INVALID_ARG_TYPE'],
    [file, { acquireTimeoutMs: -1 }, () => {}, 'ERR_INVALID_ARG_VALUE'],
    [file, { acquireTimeoutMs: NaN }, () => {}, 'ERR_INVALID_ARG_VALUE'],
    [file, { acquireTimeoutMs: '10' }, () => {}, 'ERR_INVALID_ARG_TYPE'],
    [file, { timeout: 10 }, () => {}, 'ERR_INVALID_ARG_VALUE'],
    [file, { signal: {} }, () => {}, 'ERR_INVALID_ARG_TYPE'],
    [file, 'options', () => {}, 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [f, o, fn, code] of cases) {
    const err = await (withSessionWriteLock as any)(f, o, fn).catch((e: any) => e)
    assert.ok(err instanceof TypeError, `${String(f)} ${JSON.stringify(o)}: ${err}`)
    assert.equal((err as { code?: string }).code, code, err.message)
  }
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing was created')
})

test('a missing session directory is created; an I/O error keeps its errno code and path', async (t) => {
  const { dir } = tempSession(t)
  const nested = `${dir}/agents/main/sessions/x.jsonl`
  await withSessionWriteLock(nested, {}, () => {})
  assert.ok(fs.statSync(`${dir}/agents/main/sessions`).isDirectory())
  fs.writeFileSync(`${dir}/plainfile`, '')
  const err = await withSessionWriteLock(`${dir}/plainfile/x.jsonl`, {}, () => {}).catch((e) => e)
  const transcript = path.join(fs.realpathSync(dir), 'plainfile', 'x.jsonl')
  if (process.platform === 'win32') {
    // Windows answers a path through a file as it answers a missing one (ENOENT, as Node's own lstat
    // says), so the transcript looks new and the sidecar's open is what fails.
    assert.equal(err.code, 'ENOENT')
    assert.equal(err.path, `${transcript}.lock`)
    assert.equal(err.syscall, 'open')
  } else {
    assert.equal(err.code, 'ENOTDIR')
    assert.equal(err.path, transcript)
    assert.equal(err.syscall, 'lstat')
  }
  assert.match(err.message, /plainfile/)
  assert.equal(util.getSystemErrorName(err.errno), err.code, 'errno is the number Node itself would give')
})

test('a caller handed the lock in the queue never counts as timed out once its timeout passes', async (t) => {
  const { file } = tempSession(t)
  let release!: () => void
  const holding = withSessionWriteLock(file, {}, () => new Promise<void>((r) => (release = r)))
  await sleep(2)
  const before = sessionLockStats()
  const order: string[] = []
  // W1's turn comes with the sidecar, claimed in the queue; W2 then holds past W1's timeout while W3
  // still waits, so the session's queue is not empty when W1's deadline passes.
  const w1 = withSessionWriteLock(file, { acquireTimeoutMs: 150 }, () => order.push('w1'))
  const w2 = withSessionWriteLock(file, {}, async () => {
    order.push('w2')
    await sleep(400)
  })
  const w3 = withSessionWriteLock(file, {}, () => order.push('w3'))
  await sleep(5)
  release()
  await Promise.all([holding, w1, w2, w3])
  const after = sessionLockStats()
  assert.deepEqual(order, ['w1', 'w2', 'w3'])
  assert.ok(after.handedOn > before.handedOn, 'W1 was handed the sidecar in the queue')
  assert.equal(after.timeouts - before.timeouts, 0)
})

test('stats count acquisitions, contention and timeouts, and time the hold', async (t) => {
  const { file } = tempSession(t)
  const before = sessionLockStats()
  let release!: () => void
  let heldAt = 0
  const holding = withSessionWriteLock(file, {}, () => {
    heldAt = performance.now()
    return new Promise<void>((r) => (release = r))
  })
  await sleep(2)
  await withSessionWriteLock(file, { acquireTimeoutMs: 5 }, () => {}).catch(() => {})
  // Held longer than any earlier hold of this process, so that only this one can raise the maximum.
  await sleep(before.holdMs.max + 20)
  const heldMs = performance.now() - heldAt
  release()
  await holding
  const after = sessionLockStats()
  assert.equal(after.acquisitions - before.acquisitions, 1)
  assert.equal(after.contended - before.contended, 1)
  assert.equal(after.timeouts - before.timeouts, 1)
  // The recorded hold spans at least the callback's time (1 ms of slack for the two clocks' rounding).
  assert.ok(after.holdMs.max >= heldMs - 1, `max hold ${after.holdMs.max} ms, held ${heldMs} ms`)
})
