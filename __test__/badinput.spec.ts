// The bad-input matrix, over every public function that takes a path, and the CLI: each case gives a
// clear error with a stable code, writes nothing, and leaves no lock held.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'

import * as api from '../index.js'
import { BOUNDED, tempSession } from './helpers'

const noop = () => {}

/** Each lock entry point, called with a session file and options; errors are returned, not thrown. */
const ENTRY_POINTS: Record<string, (file: unknown, opts?: unknown) => Promise<unknown>> = {
  withSessionWriteLock: (f, o) => (api.withSessionWriteLock as any)(f, o, noop),
  withSessionWriteLockSync: async (f, o) => (api.withSessionWriteLockSync as any)(f, o, noop),
  appendSessionEntries: (f, o) => (api.appendSessionEntries as any)(f, { ok: true }, o),
  appendSessionEntriesSync: async (f, o) => (api.appendSessionEntriesSync as any)(f, { ok: true }, o),
  acquireSessionWriteLock: async (f, o) => {
    const { acquireTimeoutMs, ...rest } = (o ?? {}) as Record<string, unknown>
    const lock = await (api.acquireSessionWriteLock as any)({ sessionFile: f, timeoutMs: acquireTimeoutMs, ...rest })
    await lock.release()
  },
}

const outcome = (p: () => Promise<unknown>) =>
  p().then(
    () => null,
    (e) => e,
  )

/** Nothing is held on `file` afterwards: the lock can be taken at once, from this process. */
async function assertFree(file: string) {
  await api.withSessionWriteLock(file, { acquireTimeoutMs: 0 }, noop)
}

test('wrong types, empty strings, NUL bytes: TypeErrors before the disk is touched', async (t) => {
  const { dir } = tempSession(t)
  const cases: Array<[unknown, string]> = [
    [42, 'ERR_INVALID_ARG_TYPE'],
    [undefined, 'ERR_INVALID_ARG_TYPE'],
    [{ path: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    ['', 'ERR_INVALID_ARG_VALUE'],
    [`${dir}/bad\0name.jsonl`, 'ERR_INVALID_ARG_VALUE'],
  ]
  for (const [name, call] of Object.entries(ENTRY_POINTS)) {
    for (const [file, code] of cases) {
      const err = await outcome(() => call(file))
      assert.ok(err instanceof TypeError, `${name}(${String(file)}): ${err}`)
      assert.equal((err as { code?: string }).code, code, `${name}(${String(file)})`)
    }
  }
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('a path that is too long (the errno code and the path), or names a directory (an argument error)', async (t) => {
  const { dir } = tempSession(t)
  const long = path.join(dir, `${'x'.repeat(300)}.jsonl`)
  fs.mkdirSync(path.join(dir, 'adir.jsonl'))
  for (const [name, call] of Object.entries(ENTRY_POINTS)) {
    const tooLong = await outcome(() => call(long))
    assert.equal((tooLong as any).code, 'ENAMETOOLONG', `${name}: ${tooLong}`)
    assert.ok(String((tooLong as any).path).startsWith(fs.realpathSync(dir)))
    const isDir = await outcome(() => call(path.join(dir, 'adir.jsonl')))
    assert.equal((isDir as any).code, 'ERR_INVALID_ARG_VALUE', `${name}: ${isDir}`)
    assert.match((isDir as any).message, /must name a file, not a directory/)
    assert.ok((isDir as any).message.includes(path.join(fs.realpathSync(dir), 'adir.jsonl')))
  }
  assert.deepEqual(fs.readdirSync(dir), ['adir.jsonl'])
})

test('a relative path resolves against the working directory, as the legacy lock did', (t) => {
  const { dir } = tempSession(t)
  const script = `
    const api = require(${JSON.stringify(path.join(__dirname, '..', 'index.js'))})
    api.withSessionWriteLock('agents/main/x.jsonl', {}, (lock) => console.log(lock.lockPath, lock.sessionFile))`
  const r = spawnSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8', ...BOUNDED })
  const real = fs.realpathSync(dir)
  const nested = path.join('agents', 'main', 'x.jsonl')
  assert.equal(r.stdout.trim(), `${path.join(real, `${nested}.lock`)} ${path.join(dir, nested)}`)
})

test('a read-only session directory: EACCES naming the path, nothing written', (t) => {
  if (process.platform === 'win32') return t.skip('Windows directories have no write permission bits (ACLs instead)')
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-ro-'))
  t.after(() => fs.rmSync(base, { recursive: true, force: true }))
  fs.chmodSync(base, 0o755)
  const ro = path.join(base, 'sessions')
  fs.mkdirSync(ro, { mode: 0o555 })
  fs.chmodSync(ro, 0o555)
  const script = `
    const api = require(${JSON.stringify(path.join(__dirname, '..', 'index.js'))})
    const calls = {
      withSessionWriteLock: () => api.withSessionWriteLock(process.argv[1], {}, () => {}),
      appendSessionEntries: () => api.appendSessionEntries(process.argv[1], { a: 1 }),
      appendSessionEntriesSync: async () => api.appendSessionEntriesSync(process.argv[1], { a: 1 }),
    }
    ;(async () => {
      const out = {}
      for (const [n, c] of Object.entries(calls)) out[n] = await c().then(() => null, (e) => ({ code: e.code, path: e.path, message: e.message }))
      console.log(JSON.stringify(out))
    })()`
  // As root, permissions do not apply: run the attempt as an unprivileged user, with a Node it can run
  // (this one may live under root's home, e.g. from `npx -p node@22`).
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
  const runs = (bin: string) =>
    spawnSync(bin, ['-e', `require(${JSON.stringify(path.join(__dirname, '..', 'index.js'))})`], asUser).status === 0
  const node = [process.execPath, '/usr/bin/node', '/usr/local/bin/node'].find((bin) => fs.existsSync(bin) && runs(bin))
  if (!node) return t.skip('no Node binary and package checkout readable by an unprivileged user')
  const r = spawnSync(node, ['-e', script, path.join(ro, 's.jsonl')], { encoding: 'utf8', ...BOUNDED, ...asUser })
  const results = JSON.parse(r.stdout)
  for (const [name, err] of Object.entries<any>(results)) {
    assert.equal(err?.code, 'EACCES', `${name}: ${JSON.stringify(err)} ${r.stderr}`)
    assert.equal(err.path, path.join(fs.realpathSync(ro), 's.jsonl.lock'))
    assert.match(err.message, /s\.jsonl\.lock/)
  }
  assert.deepEqual(fs.readdirSync(ro), [])
})

test('the lock path as a symlink, a directory or a FIFO; the transcript as a symlink: refused, untouched', async (t) => {
  const { dir } = tempSession(t)
  const victim = path.join(dir, 'victim')
  fs.writeFileSync(victim, 'precious')
  const plants: Record<string, (p: string) => void> = {
    'directory sidecar': (p) => fs.mkdirSync(`${p}.lock`),
  }
  if (process.platform !== 'win32') {
    // Windows has no FIFOs at a path, and lets only administrators and developer mode create symlinks
    // (processes.spec.ts covers a symlinked sidecar there when it can make one).
    plants['symlinked sidecar'] = (p) => fs.symlinkSync(victim, `${p}.lock`)
    plants['FIFO sidecar'] = (p) => spawnSync('mkfifo', [`${p}.lock`])
    plants['symlinked transcript'] = (p) => fs.symlinkSync(victim, p)
  }
  for (const [what, plant] of Object.entries(plants)) {
    for (const [name, call] of Object.entries(ENTRY_POINTS)) {
      const file = path.join(dir, `${what.replace(/ /g, '-')}-${name}.jsonl`)
      plant(file)
      const err = await outcome(() => call(file, { acquireTimeoutMs: 200 }))
      assert.equal((err as any)?.code, 'SESSION_WRITE_LOCK_UNSAFE_PATH', `${what} via ${name}: ${err}`)
      assert.equal((err as any).name, 'SessionWriteLockUnsafePathError')
    }
  }
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious')
})

test('a huge planted sidecar is read with a bound, never slurped', async (t) => {
  const { dir, file, lockPath } = tempSession(t)
  fs.closeSync(fs.openSync(lockPath, 'w'))
  fs.truncateSync(lockPath, 4 * 2 ** 30) // 4 GiB, sparse
  const rss = process.memoryUsage().rss
  const err = await outcome(() => api.withSessionWriteLock(file, { acquireTimeoutMs: 200 }, noop))
  // Unparseable and fresh: it counts as a legacy holder writing its payload, so the wait times out.
  assert.equal((err as any).code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  assert.equal((err as any).owner.kind, 'unknown')
  const report = api.inspectSessionLocks(dir)
  assert.equal(report[0].size, 4 * 2 ** 30)
  assert.equal(report[0].kind, 'unknown')
  assert.ok(process.memoryUsage().rss - rss < 64 * 2 ** 20, 'memory grew as if the file had been read')
  assert.equal(fs.existsSync(file), false, 'nothing written')
})

test('options: negative, NaN, strings, unknown keys, for every entry point', async (t) => {
  const { dir, file } = tempSession(t)
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ acquireTimeoutMs: -1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ acquireTimeoutMs: NaN }, 'ERR_INVALID_ARG_VALUE'],
    [{ acquireTimeoutMs: '100' }, 'ERR_INVALID_ARG_TYPE'],
    [{ staleMs: -5 }, 'ERR_INVALID_ARG_VALUE'],
    [{ maxHoldMs: 'long' }, 'ERR_INVALID_ARG_TYPE'],
    [{ bogus: 1 }, 'ERR_INVALID_ARG_VALUE'],
  ]
  for (const [name, call] of Object.entries(ENTRY_POINTS)) {
    for (const [opts, code] of cases) {
      const err = await outcome(() => call(file, opts))
      // The drop-in reads a number that is not positive as "the default", as every legacy generation did.
      const legacyDefault =
        name === 'acquireSessionWriteLock' && typeof Object.values(opts)[0] === 'number' && !('bogus' in opts)
      assert.equal((err as any)?.code, legacyDefault ? undefined : code, `${name} ${JSON.stringify(opts)}: ${err}`)
    }
  }
  const notObject = await outcome(() => (api.withSessionWriteLock as any)(file, 'fast', noop))
  assert.equal((notObject as any).code, 'ERR_INVALID_ARG_TYPE')
  assert.deepEqual(fs.readdirSync(dir), [])
  await assertFree(file)
})

test('entries that cannot be serialized, or are huge, are refused before anything is written', async (t) => {
  const { dir, file } = tempSession(t)
  const cyclic: any = {}
  cyclic.me = cyclic
  const huge = { blob: 'z'.repeat(130 * 2 ** 20) }
  for (const append of [
    api.appendSessionEntries,
    async (...a: Parameters<typeof api.appendSessionEntriesSync>) => api.appendSessionEntriesSync(...a),
  ]) {
    for (const [entries, type, code] of [
      [{ n: 10n }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [cyclic, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [huge, RangeError, 'ERR_OUT_OF_RANGE'],
    ] as const) {
      const err = await outcome(() => append(file, entries))
      assert.ok(err instanceof type, String(err))
      assert.equal((err as any).code, code)
    }
  }
  const lockErr = await outcome(() => api.withSessionWriteLock(file, {}, (lock) => void lock.append(huge)))
  assert.equal((lockErr as any).code, 'ERR_OUT_OF_RANGE')
  assert.deepEqual(fs.readdirSync(dir), [])
  await assertFree(file)
})

test('a callback that is not a function', async (t) => {
  const { dir, file } = tempSession(t)
  for (const fn of [undefined, null, 'fn', {}]) {
    const err = await outcome(() => (api.withSessionWriteLock as any)(file, {}, fn))
    assert.equal((err as any).code, 'ERR_INVALID_ARG_TYPE')
    assert.throws(() => (api.withSessionWriteLockSync as any)(file, {}, fn), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('the other functions check their arguments too', async (t) => {
  const { dir } = tempSession(t)
  const typeErr = { code: 'ERR_INVALID_ARG_TYPE' }
  await assert.rejects((api.cleanStaleLockFiles as any)(undefined), typeErr)
  await assert.rejects((api.cleanStaleLockFiles as any)({ sessionsDir: 5 }), typeErr)
  await assert.rejects((api.cleanStaleLockFiles as any)({ sessionsDir: dir, bogus: 1 }), {
    code: 'ERR_INVALID_ARG_VALUE',
  })
  assert.throws(() => (api.inspectSessionLocks as any)(7), typeErr)
  assert.throws(() => (api.inspectSessionLocks as any)(''), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => (api.inspectSessionLocks as any)(dir, { staleMs: -1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  const plain = path.join(dir, 'plain')
  fs.writeFileSync(plain, '')
  assert.throws(() => api.inspectSessionLocks(plain), { code: 'ENOTDIR', path: plain })
  assert.throws(() => (api.resolveSessionLockMaxHoldFromTimeout as any)(null), typeErr)
  assert.throws(() => (api.resolveSessionWriteLockConfig as any)('x'), typeErr)
  assert.throws(() => (api.resolveSessionWriteLockConfig as any)({ acquireTimeoutMs: -1 }), {
    code: 'ERR_INVALID_ARG_VALUE',
  })
  assert.throws(() => (api.configureSessionWriteLock as any)(3), typeErr)
})

test('the CLI: unknown options and unreadable directories are clear errors', (t) => {
  const { dir } = tempSession(t)
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(__dirname, '..', 'cli.js'), ...args], { encoding: 'utf8', ...BOUNDED })
  const unknown = cli('doctor', '--frobnicate')
  assert.equal(unknown.status, 2)
  assert.match(unknown.stderr, /unknown option --frobnicate/)
  fs.writeFileSync(path.join(dir, 'plain'), '')
  const notDir = cli('doctor', path.join(dir, 'plain'))
  assert.equal(notDir.status, 2, 'a usage error')
  assert.match(notDir.stderr, /plain: not a directory/)
  assert.doesNotMatch(notDir.stderr, /at .*\.js:\d+/, 'no stack trace for an operator error')
  const missing = cli('doctor', path.join(dir, 'missing'))
  assert.equal(missing.status, 2, 'a directory that does not exist was not scanned: not "healthy"')
  assert.match(missing.stderr, /missing: no such directory/)
})
