'use strict'

// The public API: a thin layer over the native binding. It validates arguments, handles async-context
// reentrancy, and turns native error descriptors into the exported error classes.

const path = require('node:path')
const { AsyncLocalStorage } = require('node:async_hooks')

const native = require('./binding')
const errors = require('./lib/errors')
const { checkSessionFile, checkFunction, lockOptions } = require('./lib/options')
const config = require('./lib/config')
const { SessionWriteLock, kRelease, kAppendEncoded } = require('./lib/lock')
const { encodeEntries, SessionTranscriptCorruptError } = require('./lib/entries')
const compat = require('./lib/compat')
const sessions = require('./lib/sessions')

const { fromNative, SessionWriteLockAbortedError, SessionWriteLockReentrancyError } = errors

/**
 * The holds of the current async context: `{ lock }` refs, where `lock` is null until acquired. A ref is
 * a box so that the drop-in `acquireSessionWriteLock` can mark its caller's context before it waits.
 */
const heldHere = new AsyncLocalStorage()

function nativeOptions(o) {
  return {
    timeoutMs: o.acquireTimeoutMs,
    staleMs: o.staleMs,
    maxHoldMs: o.maxHoldMs,
    allowNetworkFilesystem: o.allowNetworkFilesystem,
  }
}

/** The checked options of a call plus the settings in force for it (call, configure, env, file, defaults). */
function withSettings(o) {
  return { ...o, ...config.effectiveConfig(o.call, o.configPath) }
}

/** The lock this async context already holds on `sessionFile`, if any. */
function heldInContext(sessionFile) {
  const refs = heldHere.getStore()?.filter((ref) => ref.lock?.held)
  if (!refs?.length) return undefined
  const resolved = path.resolve(sessionFile)
  const same = refs.find((ref) => ref.lock.sessionFile === resolved)
  if (same) return same.lock
  let lockPath
  try {
    lockPath = native.lockPathFor(sessionFile)
  } catch {
    return undefined // its directory does not exist, so nothing there is held
  }
  return refs.find((ref) => ref.lock.lockPath === lockPath)?.lock
}

function reentry(sessionFile, reentrant) {
  const lock = heldInContext(sessionFile)
  if (lock && !reentrant) {
    throw new SessionWriteLockReentrancyError(
      `session write lock already held by this async context (reentrant: false): ${lock.lockPath}`,
      { lockPath: lock.lockPath },
    )
  }
  return lock
}

/** The current context's holds plus a new ref. */
function withRef(ref) {
  return [...(heldHere.getStore() ?? []), ref]
}

function abortedBeforeStart(sessionFile, signal) {
  return new SessionWriteLockAbortedError(
    `session write lock wait aborted: ${path.resolve(sessionFile)}.lock`,
    { lockPath: undefined, waitedMs: 0 },
    { cause: signal.reason },
  )
}

/** Lock paths a default (process warning) wait notice went out for, and when: one per session at a time. */
const noticed = new Map()

/** One notice for a wait longer than `noticeAfterMs`: who holds the lock, and for how long. */
function noticeWait(sessionFile, o, started) {
  let lockPath
  try {
    lockPath = native.lockPathFor(sessionFile)
  } catch {
    return
  }
  const owner = native.lockOwner(lockPath)
  const info = { sessionFile: path.resolve(sessionFile), lockPath, waitedMs: Math.round(performance.now() - started), owner }
  if (o.onWait) return o.onWait(info)
  // Without a hook, a hundred callers queued on one session produce one warning, not a hundred.
  const last = noticed.get(lockPath)
  if (last !== undefined && performance.now() - last < o.noticeAfterMs) return
  noticed.set(lockPath, performance.now())
  if (noticed.size > 1000) noticed.delete(noticed.keys().next().value)
  const held = owner.heldForMs === null || owner.heldForMs === undefined ? '' : ` for ${owner.heldForMs} ms`
  process.emitWarning(
    `waited ${info.waitedMs} ms so far for ${lockPath}, held by ${owner.kind} pid ${owner.pid ?? 'unknown'}${held}`,
    { code: 'SESSION_WRITE_LOCK_WAIT' },
  )
}

/**
 * Takes the lock if nothing stands in the way and returns its id; otherwise returns a promise of it.
 * (Not an async function: the uncontended path costs no promise at all.)
 */
function acquireHandle(sessionFile, o) {
  const { signal } = o
  if (signal?.aborted) throw abortedBeforeStart(sessionFile, signal)
  let got
  try {
    got = native.requestLock(sessionFile, nativeOptions(o))
  } catch (err) {
    throw fromNative(err)
  }
  // An id (> 0) when the lock was free; a ticket, negated, when this call has to wait.
  return got > 0 ? got : waitForTicket(-got, sessionFile, o)
}

async function waitForTicket(ticket, sessionFile, o) {
  const { signal } = o
  const started = performance.now()
  const onAbort = () => native.cancelLock(ticket)
  signal?.addEventListener('abort', onAbort, { once: true })
  const notice = Number.isFinite(o.noticeAfterMs)
    ? setTimeout(() => noticeWait(sessionFile, o, started), o.noticeAfterMs)
    : undefined
  try {
    return await native.waitLock(ticket)
  } catch (err) {
    throw fromNative(err, signal?.reason)
  } finally {
    clearTimeout(notice)
    signal?.removeEventListener('abort', onAbort)
  }
}

/** Runs `onError(error, lock)` under the same lock; its own failure is reported, never substituted. */
function reportOnErrorFailure(hookError) {
  process.emitWarning(`session write lock onError hook failed: ${hookError?.message ?? hookError}`, {
    code: 'SESSION_WRITE_LOCK_ON_ERROR_FAILED',
  })
}

function runHolding(lock, fn) {
  return heldHere.run(withRef({ lock }), fn, lock)
}

/** Checks the arguments of a `with…` call (`options` may be left out) and finds a hold to re-enter. */
function lockCall(sessionFile, options, fn) {
  if (typeof options === 'function' && fn === undefined) [options, fn] = [undefined, options]
  checkSessionFile(sessionFile)
  const o = lockOptions(options)
  checkFunction(fn, 'fn')
  return { o, fn, nested: reentry(sessionFile, o.reentrant) }
}

/**
 * Runs `fn(lock)` while holding the session's write lock, and releases it however `fn` ends. The value
 * `fn` returns (or the very object it throws) passes through unchanged.
 */
async function withSessionWriteLock(sessionFile, options, callback) {
  const { o, fn, nested } = lockCall(sessionFile, options, callback)
  if (nested) return fn(nested)
  const s = withSettings(o)
  const pending = acquireHandle(sessionFile, s)
  const id = typeof pending === 'number' ? pending : await pending
  const lock = new SessionWriteLock(id, sessionFile, { ...s, keepAliveMs: s.maxHoldMs })
  try {
    return await runHolding(lock, fn)
  } catch (err) {
    if (o.onError) {
      try {
        await runHolding(lock, () => o.onError(err, lock))
      } catch (hookError) {
        reportOnErrorFailure(hookError)
      }
    }
    throw err
  } finally {
    lock[kRelease]()
  }
}

/**
 * The synchronous twin of `withSessionWriteLock`: it blocks the thread (and the event loop) while it
 * waits, as `fs.appendFileSync` does. `fn` must be synchronous; a returned promise is not awaited.
 */
function withSessionWriteLockSync(sessionFile, options, callback) {
  const { o, fn, nested } = lockCall(sessionFile, options, callback)
  if (nested) return fn(nested)
  const s = withSettings(o)
  let id
  try {
    id = native.acquireLockSync(sessionFile, nativeOptions(s))
  } catch (err) {
    throw fromNative(err)
  }
  const lock = new SessionWriteLock(id, sessionFile, s)
  try {
    return runHolding(lock, fn)
  } catch (err) {
    if (o.onError) {
      try {
        runHolding(lock, () => o.onError(err, lock))
      } catch (hookError) {
        reportOnErrorFailure(hookError)
      }
    }
    throw err
  } finally {
    lock[kRelease]()
  }
}

/**
 * The narrow scope: takes the lock, appends one entry or an array of entries as JSONL lines in one
 * contiguous write, and releases. Entries are serialized first, so one that cannot be serialized
 * rejects with a TypeError before anything is locked or written.
 */
async function appendSessionEntries(sessionFile, entries, options) {
  checkSessionFile(sessionFile)
  const o = lockOptions(options)
  const { data, count } = encodeEntries(entries)
  const nested = reentry(sessionFile, o.reentrant)
  if (nested) return nested[kAppendEncoded](data, count)
  const s = withSettings(o)
  const pending = acquireHandle(sessionFile, s)
  const lock = new SessionWriteLock(typeof pending === 'number' ? pending : await pending, sessionFile, s)
  try {
    return lock[kAppendEncoded](data, count)
  } finally {
    lock[kRelease]()
  }
}

/** The synchronous twin of `appendSessionEntries`: it blocks the thread while it waits. */
function appendSessionEntriesSync(sessionFile, entries, options) {
  checkSessionFile(sessionFile)
  lockOptions(options)
  const { data, count } = encodeEntries(entries)
  return withSessionWriteLockSync(sessionFile, options, (lock) => lock[kAppendEncoded](data, count))
}

/** Process-wide counters and timings of this package's locks. */
function sessionLockStats() {
  return native.nativeLockStats()
}

/**
 * Drop-in replacement for the legacy `acquireSessionWriteLock`: same parameters, resolves to
 * `{ release }`. Unlike the legacy lock, two concurrent callers in one process exclude each other; only
 * a call made later in the same async flow, while the lock is held, re-enters (`allowReentrant`).
 */
async function acquireSessionWriteLock(params) {
  const { sessionFile, timeoutMs, staleMs, maxHoldMs, allowReentrant } = compat.acquireParams(params)
  const o = lockOptions({ acquireTimeoutMs: timeoutMs, staleMs, maxHoldMs })
  const nested = reentry(sessionFile, allowReentrant)
  if (nested) return { release: async () => {} } // the outer acquisition releases
  const s = withSettings(o)
  // Mark the caller's async context now, synchronously, so that its later calls can re-enter.
  const ref = { lock: null }
  heldHere.enterWith(withRef(ref))
  const lock = new SessionWriteLock(await acquireHandle(sessionFile, s), sessionFile, s)
  ref.lock = lock
  return { lockPath: lock.lockPath, release: async () => void lock[kRelease]() }
}

// One `exports.name =` per export, so that ESM importers get named exports (cjs-module-lexer).
exports.withSessionWriteLock = withSessionWriteLock
exports.withSessionWriteLockSync = withSessionWriteLockSync
exports.appendSessionEntries = appendSessionEntries
exports.appendSessionEntriesSync = appendSessionEntriesSync
exports.acquireSessionWriteLock = acquireSessionWriteLock
exports.cleanStaleLockFiles = sessions.cleanStaleLockFiles
exports.inspectSessionLocks = sessions.inspectSessionLocks
exports.recoverSessionLocksOnStartup = sessions.recoverSessionLocksOnStartup
exports.resolveSessionLockMaxHoldFromTimeout = compat.resolveSessionLockMaxHoldFromTimeout
exports.resolveSessionWriteLockConfig = config.resolveSessionWriteLockConfig
exports.configureSessionWriteLock = config.configureSessionWriteLock
exports.sessionLockStats = sessionLockStats
exports.DEFAULTS = config.DEFAULTS
exports.SessionWriteLock = SessionWriteLock
exports.SessionWriteLockError = errors.SessionWriteLockError
exports.SessionWriteLockTimeoutError = errors.SessionWriteLockTimeoutError
exports.SessionWriteLockAbortedError = errors.SessionWriteLockAbortedError
exports.SessionWriteLockLostError = errors.SessionWriteLockLostError
exports.SessionWriteLockReentrancyError = errors.SessionWriteLockReentrancyError
exports.SessionWriteLockUnsafePathError = errors.SessionWriteLockUnsafePathError
exports.SessionWriteLockConfigError = errors.SessionWriteLockConfigError
exports.SessionWriteLockNetworkFilesystemError = errors.SessionWriteLockNetworkFilesystemError
exports.SessionTranscriptCorruptError = SessionTranscriptCorruptError
