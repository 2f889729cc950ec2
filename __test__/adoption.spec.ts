// What a new user meets first: the doctor's reports on paths it was given, the messages of the mistakes
// a hurried user makes, and a holder that waits forever.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'

import * as api from '../index.js'
import { BOUNDED, livePid, lockChild, tempSession } from './helpers'

const CLI = path.join(__dirname, '..', 'cli.js')
const INDEX = path.join(__dirname, '..', 'index.js')

function doctor(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, 'doctor', ...args], {
    encoding: 'utf8',
    ...BOUNDED,
    env: { ...process.env, OPENCLAW_STATE_DIR: '/nonexistent-state-dir', ...env },
  })
}

test('doctor: a missing directory or a file is a usage error, never "healthy"', (t) => {
  const { dir } = tempSession(t)
  const file = path.join(dir, 'not-a-dir')
  fs.writeFileSync(file, '')
  for (const [arg, says] of [
    [path.join(dir, 'missing'), /no such directory/],
    [file, /not a directory/],
  ] as const) {
    const r = doctor([arg])
    assert.equal(r.status, 2, `${arg}: ${r.stdout}${r.stderr}`)
    assert.match(r.stderr, says)
    assert.doesNotMatch(r.stdout + r.stderr, /os error|scanned|healthy/)
  }
})

test('doctor: a state directory stands for its agents/*/sessions; nothing found is said so', (t) => {
  const { dir: state } = tempSession(t)
  const sessions = path.join(state, 'agents', 'main', 'sessions')
  fs.mkdirSync(sessions, { recursive: true })
  // A live holder (on every OS: pid 1 is not a process on Windows), so nothing is stale: exit 0.
  const pid = livePid(t)
  fs.writeFileSync(path.join(sessions, 'x.jsonl.lock'), JSON.stringify({ pid, createdAt: new Date().toISOString() }))
  const r = doctor(['--json', state])
  assert.equal(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  assert.deepEqual(report.dirs, [sessions])
  assert.equal(report.locks.length, 1)
  // Numbers, as resolveSessionWriteLockConfig() gives them.
  assert.equal(report.config.acquireTimeoutMs.value, api.resolveSessionWriteLockConfig().acquireTimeoutMs.value)
  assert.equal(typeof report.config.staleMs.value, 'number')
  const none = doctor([])
  assert.equal(none.status, 0)
  assert.match(none.stdout, /the state directory \S*nonexistent-state-dir does not exist/) // Z:\\… under Wine
  assert.match(none.stdout, /which does not exist: the defaults apply/)
})

test('messages: what the caller passed, a directory as the transcript, no OS error suffix', async (t) => {
  const { dir, file } = tempSession(t)
  const typed = await api.acquireSessionWriteLock({ sessionFile: file, timeoutMs: '5000' as any }).catch((e) => e)
  assert.equal(typed.code, 'ERR_INVALID_ARG_TYPE')
  assert.match(typed.message, /"params\.timeoutMs".*Received '5000'/)
  fs.mkdirSync(path.join(dir, 'adir'))
  for (const target of [path.join(dir, 'adir'), `${path.join(dir, 'adir')}${path.sep}`]) {
    const err = await api.appendSessionEntries(target, { x: 1 }).catch((e) => e)
    assert.equal(err.code, 'ERR_INVALID_ARG_VALUE', `${target}: ${err.message}`)
    assert.doesNotMatch(err.message, /os error/)
  }
  if (process.platform !== 'win32' && process.getuid?.() !== 0) {
    const ro = path.join(dir, 'ro')
    fs.mkdirSync(ro, { mode: 0o500 })
    const denied = await api.appendSessionEntries(path.join(ro, 's.jsonl'), { x: 1 }).catch((e) => e)
    assert.equal(denied.code, 'EACCES')
    assert.doesNotMatch(denied.message, /os error/)
  }
  const missingCfg = await api
    .withSessionWriteLock(file, { configPath: path.join(dir, 'adir') }, () => {})
    .catch((e) => e)
  assert.equal(missingCfg.code, 'SESSION_WRITE_LOCK_CONFIG')
  assert.doesNotMatch(missingCfg.message, /os error/)
})

test('the sync twin refuses an async function at once, and a returned promise', async (t) => {
  const { dir, file } = tempSession(t)
  assert.throws(() => api.withSessionWriteLockSync(file, async () => {}), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /synchronous/,
  })
  assert.deepEqual(fs.readdirSync(dir), [], 'refused before anything was touched')
  assert.throws(() => api.withSessionWriteLockSync(file, () => Promise.resolve(1)), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /promise/,
  })
  assert.equal(fs.existsSync(`${file}.lock`), false, 'and the lock is released')
  assert.equal(
    api.withSessionWriteLockSync(file, () => 42),
    42,
  )
})

test('a holder that awaits forever with maxHoldMs Infinity keeps its process alive (no exit 13)', (t) => {
  const { file } = tempSession(t)
  const code = `
    const api = require(${JSON.stringify(INDEX)})
    api.withSessionWriteLock(${JSON.stringify(file)}, { maxHoldMs: Infinity }, () => { console.log('held'); return new Promise(() => {}) })`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 1500 })
  assert.equal(r.stdout.trim(), 'held')
  assert.equal(r.status, null, `the process ended by itself with ${r.status}`)
  assert.equal(r.signal, 'SIGTERM', 'it was still holding when the test stopped it')
})

test('a holder awaiting only lock.signal is kept alive until the watchdog revokes it, then its process exits', (t) => {
  const { file } = tempSession(t)
  const code = `
    const api = require(${JSON.stringify(INDEX)})
    api.withSessionWriteLock(${JSON.stringify(file)}, { maxHoldMs: 300 }, (lock) =>
      new Promise((resolve) => lock.signal.addEventListener('abort', () => { console.log('revoked'); resolve() })),
    )`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 5000 })
  assert.equal(r.status, 0, `${r.signal} ${r.stderr}`)
  assert.equal(r.stdout.trim(), 'revoked')
})

test('a callback that throws at once, whose onError awaits only lock.signal, is kept alive until revoked', (t) => {
  const { file } = tempSession(t)
  const code = `
    const api = require(${JSON.stringify(INDEX)})
    const onError = (err, lock) =>
      new Promise((resolve) => lock.signal.addEventListener('abort', () => { console.log('revoked'); resolve() }))
    api
      .withSessionWriteLock(${JSON.stringify(file)}, { maxHoldMs: 300, onError }, () => { throw new Error('boom') })
      .catch((err) => console.log('rejected', err.message))`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 5000 })
  assert.equal(r.status, 0, `${r.signal} ${r.stderr}`)
  assert.deepEqual(r.stdout.trim().split('\n'), ['revoked', 'rejected boom'])
})

test('a revoked hold whose callback never settles no longer keeps its process alive', (t) => {
  const { file } = tempSession(t)
  const code = `
    const api = require(${JSON.stringify(INDEX)})
    const started = performance.now()
    process.on('exit', () => console.log(Math.round(performance.now() - started)))
    api.withSessionWriteLock(${JSON.stringify(file)}, { maxHoldMs: 300 }, () => new Promise(() => {}))`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 5000 })
  assert.equal(r.status, 0, `it did not exit by itself: ${r.signal} ${r.stderr}`)
  const ms = Number(r.stdout)
  assert.ok(ms >= 300 && ms < 2000, `it exited ${r.stdout.trim()} ms after it started (revoked at 300 ms)`)
})

test('once its holds have ended, nothing of the lock keeps a process alive', (t) => {
  const { file } = tempSession(t)
  const code = `
    const api = require(${JSON.stringify(INDEX)})
    const started = performance.now()
    const hold = () => api.withSessionWriteLock(${JSON.stringify(file)}, () => new Promise((r) => setTimeout(r, 5)))
    Promise.all([hold(), hold(), hold()]).then(hold).then(() => {
      process.on('exit', () => console.log(Math.round(performance.now() - started)))
    })`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 5000 })
  assert.equal(r.status, 0, `it did not exit by itself: ${r.signal} ${r.stderr}`)
  assert.ok(Number(r.stdout) < 2000, `it exited ${r.stdout} ms after it started`)
})

test('who holds, in words: the owner option in the payload, the timeout, the notice, inspection and doctor', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  const child = lockChild(t, ['hold-owner', file, 'run-8f2 (telegram #ops)'])
  await child.waitFor('held')
  const payload = JSON.parse(fs.readFileSync(lockPath, 'utf8'))
  assert.deepEqual(
    [payload.owner, payload.hostname, payload.process],
    ['run-8f2 (telegram #ops)', os.hostname(), 'lock-child.js'],
  )
  const notices: Array<{ owner: { label?: string | null } }> = []
  const err = await api
    .withSessionWriteLock(file, { acquireTimeoutMs: 300, noticeAfterMs: 50, onWait: (n) => notices.push(n) }, () => {})
    .catch((e) => e)
  assert.equal(err.owner.label, 'run-8f2 (telegram #ops)')
  assert.equal(notices[0]?.owner.label, 'run-8f2 (telegram #ops)')
  const [listed] = api.inspectSessionLocks(dir)
  assert.deepEqual([listed.owner, listed.process], ['run-8f2 (telegram #ops)', 'lock-child.js'])
  const r = doctor([dir])
  assert.match(r.stdout, /held\s+kernel\s+\d+\s+yes\s+\S+\s+run-8f2 \(telegram #ops\)/)
  for (const bad of ['', 'x'.repeat(257), 42]) {
    const e = await api.appendSessionEntries(file, { x: 1 }, { owner: bad as any }).catch((e) => e)
    assert.match(e.code, /^ERR_INVALID_ARG_(VALUE|TYPE)$/, String(bad))
  }
  child.send('release')
  await child.exited
})
