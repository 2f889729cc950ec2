// The drop-in legacy API, inspection, stale-lock cleaning, the startup helper and the doctor CLI.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import {
  acquireSessionWriteLock,
  cleanStaleLockFiles,
  inspectSessionLocks,
  recoverSessionLocksOnStartup,
  resolveSessionLockMaxHoldFromTimeout,
} from '../index.js'
import { BOUNDED, deadPid, livePid, lockChild, sleep, tempSession } from './helpers'

const CLI = path.join(__dirname, '..', 'cli.js')
const HOUR = 3_600_000
const iso = (agoMs = 0) => new Date(Date.now() - agoMs).toISOString()

function plant(lockPath: string, payload: unknown, ageMs = 0) {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true })
  fs.writeFileSync(lockPath, typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2))
  if (ageMs) fs.utimesSync(lockPath, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs))
}

test('acquireSessionWriteLock is a drop-in: { release } around a write, as the legacy call sites use it', async (t) => {
  const { file, lockPath } = tempSession(t)
  const lock = await acquireSessionWriteLock({
    sessionFile: file,
    timeoutMs: 10_000,
    staleMs: 1_800_000,
    maxHoldMs: 300_000,
  })
  try {
    assert.equal(JSON.parse(fs.readFileSync(lockPath, 'utf8')).pid, process.pid)
    fs.appendFileSync(file, '{"role":"user"}\n')
  } finally {
    await lock.release()
  }
  assert.equal(fs.existsSync(lockPath), false)
  await lock.release() // idempotent
})

test('drop-in: two unrelated callers in one process exclude each other (the legacy lock let both in)', async (t) => {
  const { file } = tempSession(t)
  const events: string[] = []
  const handler = (name: string) => async () => {
    const lock = await acquireSessionWriteLock({ sessionFile: file })
    events.push(`${name} in`)
    await sleep(30)
    events.push(`${name} out`)
    await lock.release()
  }
  // Two message handlers, each from its own event, as the gateway runs them.
  await Promise.all(['a', 'b'].map((n) => new Promise((resolve) => setImmediate(() => handler(n)().then(resolve)))))
  assert.deepEqual(events, ['a in', 'a out', 'b in', 'b out'])
})

test('drop-in: a nested acquisition later in the same flow re-enters, counted: the sidecar goes at the last release', async (t) => {
  const { file, lockPath } = tempSession(t)
  const outer = await acquireSessionWriteLock({ sessionFile: file })
  const repairTranscript = async () => {
    const inner = await acquireSessionWriteLock({ sessionFile: file, timeoutMs: 200 })
    await inner.release()
  }
  await repairTranscript()
  assert.ok(fs.existsSync(lockPath), 'the nested release leaves the outer hold in place')
  await outer.release()
  assert.equal(fs.existsSync(lockPath), false)
  // Released: the same flow now acquires for real.
  const again = await acquireSessionWriteLock({ sessionFile: file, timeoutMs: 200 })
  assert.ok(fs.existsSync(lockPath))
  await again.release()
})

test('drop-in: when the outer release comes first, the nested hold keeps the lock until its own release', async (t) => {
  const { file, lockPath } = tempSession(t)
  const outer = await acquireSessionWriteLock({ sessionFile: file })
  const inner = await acquireSessionWriteLock({ sessionFile: file })
  await outer.release()
  await outer.release() // a second release of the same handle counts once
  assert.ok(fs.existsSync(lockPath), 'the nested holder still holds')
  // Another process cannot get in while the nested code still writes.
  const other = lockChild(t, ['acquire', file, '300'])
  await other.exited
  assert.equal(other.events.find((e) => e.event === 'error')?.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  await inner.release()
  assert.equal(fs.existsSync(lockPath), false)
  const after = lockChild(t, ['acquire', file, '3000'])
  await after.exited
  assert.ok(after.events.some((e) => e.event === 'acquired'))
})

test('drop-in: allowReentrant false waits like any other caller, and times out as the legacy lock did', async (t) => {
  const { file, lockPath } = tempSession(t)
  const outer = await acquireSessionWriteLock({ sessionFile: file })
  const started = performance.now()
  const err = await acquireSessionWriteLock({ sessionFile: file, allowReentrant: false, timeoutMs: 300 }).catch(
    (e) => e,
  )
  assert.ok(performance.now() - started >= 290, 'it waited for its timeout')
  assert.equal(err.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  assert.equal(err.reason, 'session_busy')
  assert.equal(err.timeoutMs, 300)
  assert.equal(err.lockPath, lockPath)
  assert.match(err.message, /^session file locked \(timeout 300ms\): pid=\d+ /)
  // Once the outer hold is gone, allowReentrant false acquires like anyone else.
  const waiting = acquireSessionWriteLock({ sessionFile: file, allowReentrant: false, timeoutMs: 5000 })
  await sleep(50)
  await outer.release()
  await (await waiting).release()
  assert.equal(fs.existsSync(lockPath), false)
})

test('drop-in: bad parameters are clear TypeErrors; limits that are not positive mean the default, as in every generation', async (t) => {
  for (const [params, code] of [
    [undefined, 'ERR_INVALID_ARG_TYPE'],
    [{}, 'ERR_INVALID_ARG_TYPE'],
    [{ sessionFile: '/x', timeout: 5 }, 'ERR_INVALID_ARG_VALUE'],
    [{ sessionFile: '/x', timeoutMs: '5000' }, 'ERR_INVALID_ARG_TYPE'],
    [{ sessionFile: '/x', allowReentrant: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    [{ sessionFile: '/x', signal: {} }, 'ERR_INVALID_ARG_TYPE'],
  ] as const) {
    const err = await (acquireSessionWriteLock as any)(params).catch((e: any) => e)
    assert.equal(err.code, code, JSON.stringify(params))
  }
  const { file } = tempSession(t)
  for (const timeoutMs of [0, -5, NaN]) {
    // Not "fail at once": the default timeout, which a free lock never reaches.
    const lock = await acquireSessionWriteLock({ sessionFile: file, timeoutMs, staleMs: -1, maxHoldMs: 0 })
    await lock.release()
  }
})

test('resolveSessionLockMaxHoldFromTimeout keeps the legacy formula', () => {
  assert.equal(resolveSessionLockMaxHoldFromTimeout({ timeoutMs: 600_000 }), 720_000)
  assert.equal(resolveSessionLockMaxHoldFromTimeout({ timeoutMs: 1000 }), 300_000)
  assert.equal(resolveSessionLockMaxHoldFromTimeout({ timeoutMs: 1000, minMs: 10, graceMs: 5 }), 1005)
  assert.equal(resolveSessionLockMaxHoldFromTimeout({ timeoutMs: Infinity }), 2_147_000_000)
  assert.equal(resolveSessionLockMaxHoldFromTimeout({ timeoutMs: 0 }), 420_000)
  assert.equal(resolveSessionLockMaxHoldFromTimeout({ timeoutMs: 1e12 }), 2_147_000_000)
  assert.throws(() => (resolveSessionLockMaxHoldFromTimeout as any)(5), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('cleanStaleLockFiles reports the legacy fields and removes only stale sidecars', async (t) => {
  const { dir } = tempSession(t)
  const dead = deadPid()
  const live = livePid(t)
  plant(`${dir}/a-dead.jsonl.lock`, { pid: dead, createdAt: iso(1000) })
  plant(`${dir}/b-live.jsonl.lock`, { pid: live, createdAt: iso(1000) })
  plant(`${dir}/c-fresh-junk.jsonl.lock`, '{}')
  plant(`${dir}/d-old.jsonl.lock`, { pid: live, createdAt: iso(HOUR) }) // too old, but its holder lives
  plant(`${dir}/other.lock`, { pid: dead, createdAt: iso() }) // not *.jsonl.lock: not the legacy cleaner's
  const warnings: string[] = []
  const { locks, cleaned } = await cleanStaleLockFiles({
    sessionsDir: dir,
    staleMs: 1_800_000,
    log: { warn: (m: string) => warnings.push(m) },
  })
  const real = fs.realpathSync(dir)
  assert.deepEqual(
    locks.map((l) => path.basename(l.lockPath)),
    ['a-dead.jsonl.lock', 'b-live.jsonl.lock', 'c-fresh-junk.jsonl.lock', 'd-old.jsonl.lock'],
  )
  const [a, b, c, d] = locks
  assert.equal(a.lockPath, path.join(real, 'a-dead.jsonl.lock'))
  assert.deepEqual(
    {
      pid: a.pid,
      pidAlive: a.pidAlive,
      stale: a.stale,
      staleReasons: a.staleReasons,
      removed: a.removed,
      kind: a.kind,
      held: a.held,
    },
    { pid: dead, pidAlive: false, stale: true, staleReasons: ['dead-pid'], removed: true, kind: 'legacy', held: false },
  )
  assert.ok(a.ageMs! >= 1000 && a.ageMs! < 60_000)
  assert.equal(typeof a.createdAt, 'string')
  assert.deepEqual([b.pid, b.pidAlive, b.stale, b.removed, b.staleReasons], [live, true, false, false, []])
  assert.deepEqual([c.pid, c.createdAt, c.ageMs, c.stale, c.kind], [null, null, null, false, 'unknown'])
  assert.deepEqual([d.stale, d.staleReasons, d.removed], [false, ['too-old'], false])
  assert.deepEqual(
    cleaned.map((l) => path.basename(l.lockPath)),
    ['a-dead.jsonl.lock'],
  )
  assert.equal(warnings.length, 1)
  assert.deepEqual(fs.readdirSync(dir).sort(), [
    'b-live.jsonl.lock',
    'c-fresh-junk.jsonl.lock',
    'd-old.jsonl.lock',
    'other.lock',
  ])
  const dry = await cleanStaleLockFiles({ sessionsDir: dir, removeStale: false })
  assert.equal(dry.cleaned.length, 0)
  assert.deepEqual(await cleanStaleLockFiles({ sessionsDir: `${dir}/missing` }), { locks: [], cleaned: [] })
})

test('cleanStaleLockFiles keeps a sidecar naming its own process (orphan-self-pid is for acquirers only)', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  plant(lockPath, { pid: process.pid, createdAt: iso(1000) }) // no start time: maybe a pid reused by a container
  const { locks, cleaned } = await cleanStaleLockFiles({ sessionsDir: dir })
  assert.deepEqual([cleaned.length, locks[0].stale, locks[0].removable, locks[0].staleReasons], [0, false, false, []])
  assert.ok(fs.existsSync(lockPath), 'every legacy cleaner keeps it')
  // The acquirer of the same process knows it holds nothing there: it takes the orphan over.
  const lock = await acquireSessionWriteLock({ sessionFile: file, timeoutMs: 3000 })
  assert.equal(JSON.parse(fs.readFileSync(lockPath, 'utf8')).kernelLock, true)
  await lock.release()
})

test('inspectSessionLocks tells kernel, legacy and unknown apart, and sees a live hold without disturbing it', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  plant(`${dir}/legacy.jsonl.lock`, { pid: 1, createdAt: iso() })
  plant(`${dir}/empty.jsonl.lock`, '')
  const byName = Object.fromEntries(inspectSessionLocks(dir).map((l) => [path.basename(l.lockPath), l]))
  const held = byName[path.basename(lockPath)]
  assert.deepEqual(
    [held.kind, held.held, held.pid, held.pidAlive, held.stale],
    ['kernel', true, holder.pid, true, false],
  )
  assert.deepEqual([byName['legacy.jsonl.lock'].kind, byName['legacy.jsonl.lock'].held], ['legacy', false])
  assert.equal(byName['empty.jsonl.lock'].kind, 'unknown')
  // The probe did not disturb the holder: it still holds, and a cleaner cannot remove its sidecar.
  await cleanStaleLockFiles({ sessionsDir: dir })
  assert.ok(fs.existsSync(lockPath))
  holder.kill('SIGKILL')
  await holder.exited
  const after = inspectSessionLocks(dir).find((l) => l.lockPath === lockPath)!
  assert.deepEqual([after.held, after.stale, after.pidAlive], [false, true, false])
  assert.ok(after.staleReasons.includes('kernel-holder-gone'))
})

test('recoverSessionLocksOnStartup cleans every agent of the state directory', async (t) => {
  const { dir: stateDir } = tempSession(t)
  plant(`${stateDir}/agents/main/sessions/x.jsonl.lock`, { pid: deadPid(), createdAt: iso() })
  plant(`${stateDir}/agents/cron/sessions/y.jsonl.lock`, { pid: livePid(t), createdAt: iso() })
  const r = await recoverSessionLocksOnStartup({ stateDir })
  assert.equal(r.dirs.length, 2)
  assert.deepEqual(
    r.cleaned.map((l) => path.basename(l.lockPath)),
    ['x.jsonl.lock'],
  )
  assert.equal(r.locks.length, 2)
})

function doctor(args: string[], stateDir?: string) {
  return spawnSync(process.execPath, [CLI, 'doctor', ...args], {
    encoding: 'utf8',
    ...BOUNDED,
    env: { ...process.env, OPENCLAW_STATE_DIR: stateDir ?? '/nonexistent-state-dir' },
  })
}

test('doctor: a table, exit 1 while stale locks remain, --fix removes only those, --json', async (t) => {
  const { dir: stateDir } = tempSession(t)
  const sessions = path.join(stateDir, 'agents', 'main', 'sessions')
  const live = livePid(t)
  plant(`${sessions}/stale.jsonl.lock`, { pid: deadPid(), createdAt: iso() })
  plant(`${sessions}/live.jsonl.lock`, { pid: live, createdAt: iso() })
  plant(`${sessions}/young.jsonl.lock`, '{}')
  const report = doctor([], stateDir)
  assert.equal(report.status, 1, report.stderr)
  assert.match(report.stdout, /STATUS\s+KIND\s+PID\s+ALIVE\s+AGE\s+OWNER\s+REASONS\s+LOCK/)
  assert.match(report.stdout, /stale\s+legacy\s+\d+\s+no\s+\S+\s+-\s+dead-pid\s+.*stale\.jsonl\.lock/)
  assert.match(report.stdout, new RegExp(`live\\s+legacy\\s+${live}\\s+yes`))
  assert.match(report.stdout, /fresh\s+unknown/)
  assert.match(report.stdout, /run with --fix/)
  const fixed = doctor(['--fix'], stateDir)
  assert.equal(fixed.status, 0, fixed.stdout)
  assert.match(fixed.stdout, /removed\s+legacy/)
  assert.deepEqual(fs.readdirSync(sessions).sort(), ['live.jsonl.lock', 'young.jsonl.lock'])
  const json = doctor(['--json', sessions])
  assert.equal(json.status, 0)
  const parsed = JSON.parse(json.stdout)
  assert.deepEqual(parsed.dirs, [sessions])
  assert.deepEqual(parsed.locks.map((l: { status: string }) => l.status).sort(), ['fresh', 'live'])
  assert.equal(parsed.problems, 0)
})

test('doctor: an unsafe sidecar is reported and left alone; usage errors exit 2; --help documents it', async (t) => {
  const { dir } = tempSession(t)
  const sidecar = path.join(dir, 's.jsonl.lock')
  // A symlink; on Windows, where only administrators may make one, a directory.
  if (process.platform === 'win32') fs.mkdirSync(sidecar)
  else {
    fs.writeFileSync(path.join(dir, 'target'), 'keep')
    fs.symlinkSync(path.join(dir, 'target'), sidecar)
  }
  const r = doctor(['--fix', dir])
  assert.equal(r.status, 1)
  assert.match(r.stdout, /unsafe\s+unsafe.*SESSION_WRITE_LOCK_UNSAFE_PATH/)
  const left = fs.lstatSync(sidecar)
  assert.ok(process.platform === 'win32' ? left.isDirectory() : left.isSymbolicLink(), 'left in place')
  assert.equal(doctor(['--bogus']).status, 2)
  const help = doctor(['--help'])
  assert.equal(help.status, 0)
  assert.match(help.stdout, /--fix/)
  const none = doctor([])
  assert.equal(none.status, 0)
  assert.match(none.stdout, /scanned 0 session directories/)
})
