'use strict'

// The public API: a thin layer over the native binding. It validates arguments, handles async-context
// reentrancy, and turns native error descriptors into the exported error classes.

const path = require('node:path')
const { AsyncLocalStorage } = require('node:async_hooks')

const native = require('./lib/native')
const errors = require('./lib/errors')
const { checkSessionFile, checkFunction, lockOptions } = require('./lib/options')
const config = require('./lib/config')
const {
  MAX_TIMER_MS,
  SessionWriteLock,
  kAppendEncoded,
  kEnter,
  keepAlive,
  grantedLockPath,
  revokeAllHere,
  isLost,
  isReleased,
} = require('./lib/lock')
const { encodeEntries } = require('./lib/entries')
const compat = require('./lib/compat')
const cleanup = require('./lib/cleanup')
const signals = require('./lib/signals')
const trace = require('./lib/trace')
const group = require('./lib/group')
const { noticeAfter, endNotice } = require('./lib/notices')

const { fromNative, invalidArgValue, SessionWriteLockAbortedError, SessionWriteLockReentrancyError } = errors

/**
 * The holds of the current async context: `{ lock, done }` refs, where `lock` is null until acquired. A
 * ref is a box so that the drop-in `acquireSessionWriteLock` can mark its caller's context before it
 * waits; `done` marks one whose acquisition failed.
 *
 * Re-entry is by async context, not by process: only a call made inside the flow that holds the lock
 * (later in the same chain of awaits and callbacks) re-enters, and concurrent unrelated callers queue.
 * That is sound for both legacy defaults of `allowReentrant`: with `true` (2026.2 to 2026.4) every
 * caller of the process shared the lock, which let two channels write at once; with `false` (2026.5+)
 * a nested call waited for its own flow and could only time out. A nested call that asks for
 * `allowReentrant: false` still waits like any other caller, as the legacy lock did.
 */
const heldHere = new AsyncLocalStorage()

/** The native settings' keys, as `withSettings` copies them: it fails loudly at load if they change. */
const COPIED_SETTINGS = 'acquireTimeoutMs,staleMs,maxHoldMs,noticeAfterMs,durability'
if (config.KEYS.join() !== COPIED_SETTINGS)
  throw new Error(`withSettings copies ${COPIED_SETTINGS}, not ${config.KEYS}`)

/**
 * The checked options of a call (`lockOptions`) plus the settings in force for it (call, configure, env,
 * file, defaults). One literal of one shape, key by key: spreading both into a new object took V8's
 * slow path for every key of the native result (11% of an uncontended round trip's profile samples),
 * and left the object in dictionary mode for every later read of it.
 */
function withSettings(o) {
  const r = config.effectiveConfig(o.call, o.configPath)
  return {
    call: o.call,
    configPath: o.configPath,
    signal: o.signal,
    reentrant: o.reentrant,
    onRevoked: o.onRevoked,
    onWait: o.onWait,
    onError: o.onError,
    allowNetworkFilesystem: o.allowNetworkFilesystem,
    owner: o.owner,
    acquireTimeoutMs: r.acquireTimeoutMs,
    staleMs: r.staleMs,
    maxHoldMs: r.maxHoldMs,
    noticeAfterMs: r.noticeAfterMs,
    durability: r.durability,
  }
}

/** Refs of this context whose hold is live or lost (not released, not failed). */
const openRefs = (store) => store?.filter((ref) => !ref.done && !(ref.lock && isReleased(ref.lock)))

/**
 * The lock this async context holds on `sessionFile`, if any. A hold that ended without a release
 * (revoked, taken over, ended by a signal) throws `SESSION_WRITE_LOCK_LOST`: nothing nested in it may
 * write, and it must not acquire anew on the strength of what it read under the lost hold.
 */
function heldInContext(sessionFile) {
  const refs = openRefs(heldHere.getStore())?.filter((ref) => ref.lock)
  if (!refs?.length) return undefined
  const resolved = path.resolve(sessionFile)
  let lock = refs.find((ref) => ref.lock.sessionFile === resolved)?.lock
  if (!lock) {
    let lockPath
    try {
      lockPath = native.sidecarPathFor(sessionFile)
    } catch {
      return undefined // its directory does not exist, so nothing there is held
    }
    lock = refs.find((ref) => ref.lock.lockPath === lockPath)?.lock
  }
  if (lock && isLost(lock)) lock.assertHeld() // throws SESSION_WRITE_LOCK_LOST with the reason
  return lock
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

/** The current context's open holds plus a new ref. */
function withRef(ref) {
  return [...(openRefs(heldHere.getStore()) ?? []), ref]
}

function abortedBeforeStart(sessionFile, signal) {
  return new SessionWriteLockAbortedError(
    `session write lock wait aborted: ${path.resolve(sessionFile)}.lock`,
    { lockPath: undefined, waitedMs: 0 },
    { cause: signal.reason },
  )
}

/** ` ("run-7", gateway.js on gw-1)`: who holds, in words, when the holder's payload says. */
function describeHolder({ label, process: program, hostname }) {
  const parts = [
    label && JSON.stringify(label),
    program && hostname ? `${program} on ${hostname}` : (program ?? hostname),
  ]
  const known = parts.filter(Boolean)
  return known.length ? ` (${known.join(', ')})` : ''
}

/** Lock paths a default (process warning) wait notice went out for, and when: one per session at a time. */
const noticed = new Map()

/** One notice for a wait longer than `noticeAfterMs`: who holds the lock, and for how long. */
function noticeWait(sessionFile, o, started) {
  let lockPath
  try {
    lockPath = native.sidecarPathFor(sessionFile)
  } catch {
    return
  }
  const owner = native.lockOwner(lockPath)
  const info = {
    sessionFile: path.resolve(sessionFile),
    lockPath,
    waitedMs: Math.round(performance.now() - started),
    owner,
  }
  if (o.onWait) return o.onWait(info)
  // Without a hook, a hundred callers queued on one session produce one warning, not a hundred.
  const last = noticed.get(lockPath)
  if (last !== undefined && performance.now() - last < o.noticeAfterMs) return
  noticed.set(lockPath, performance.now())
  if (noticed.size > 1000) noticed.delete(noticed.keys().next().value)
  const held = owner.heldForMs === null || owner.heldForMs === undefined ? '' : ` for ${owner.heldForMs} ms`
  process.emitWarning(
    `waited ${info.waitedMs} ms so far for ${lockPath}, held by ${owner.kind} pid ${owner.pid ?? 'unknown'}${describeHolder(owner)}${held}`,
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
  signals.arm()
  let got
  try {
    got = native.requestLock(sessionFile, o, o)
  } catch (err) {
    throw fromNative(err)
  }
  // An id (> 0) when the lock was free; a ticket, negated, when this call has to wait.
  return got > 0 ? got : waitForTicket(-got, sessionFile, o)
}

async function waitForTicket(ticket, sessionFile, o) {
  const { signal } = o
  const started = performance.now()
  const lockPath = native.pendingLockPath(ticket)
  trace.waiting(sessionFile, o.owner)
  const onAbort = () => native.cancelLock(ticket)
  signal?.addEventListener('abort', onAbort, { once: true })
  const notice =
    o.noticeAfterMs <= MAX_TIMER_MS
      ? noticeAfter(o.noticeAfterMs, () => noticeWait(sessionFile, o, started))
      : undefined
  try {
    // 0: the lock the kernel handed over met a further wait (a live legacy holder, a settling takeover).
    let id = 0
    while (id === 0) id = await native.waitLock(ticket)
    grantedLockPath(id, lockPath)
    return id
  } catch (err) {
    throw fromNative(err, { cause: signal?.reason })
  } finally {
    if (notice) endNotice(notice)
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
  return heldHere.run(withRef({ lock, done: false }), fn, lock)
}

/** Runs a nested call's `fn` as one more holder of the lock its flow holds. */
async function holdNested(lock, fn) {
  const leave = lock[kEnter]()
  try {
    return await fn(lock)
  } finally {
    leave()
  }
}

/** Checks the arguments of a `with…` call (`options` may be left out) and finds a hold to re-enter. */
function lockCall(sessionFile, options, fn) {
  if (typeof options === 'function' && fn === undefined) [options, fn] = [undefined, options]
  checkSessionFile(sessionFile)
  const o = lockOptions(options)
  checkFunction(fn, 'fn')
  return { o, fn, nested: reentry(sessionFile, o.reentrant) }
}

/** A re-entered call's span: the lock its flow holds, no wait. */
function reentered(span, lock) {
  if (span) Object.assign(span, { lockPath: lock.lockPath, waitedMs: 0, reentered: true })
}

/**
 * Runs `fn(lock)` while holding the session's write lock, and releases it however `fn` ends. The value
 * `fn` returns (or the very object it throws) passes through unchanged.
 */
function withSessionWriteLock(sessionFile, options, callback) {
  const span = trace.spanContext('withSessionWriteLock', sessionFile, options)
  return trace.tracePromise('withSessionWriteLock', span, () => holdDuring(sessionFile, options, callback, span))
}

async function holdDuring(sessionFile, options, callback, span) {
  const { o, fn, nested } = lockCall(sessionFile, options, callback)
  if (nested) {
    reentered(span, nested)
    return holdNested(nested, fn)
  }
  const s = withSettings(o)
  const pending = acquireHandle(sessionFile, s)
  const id = typeof pending === 'number' ? pending : await pending
  const lock = new SessionWriteLock(id, sessionFile, s, span)
  const leave = lock[kEnter]()
  try {
    const running = runHolding(lock, fn)
    keepAlive(lock)
    return await running
  } catch (err) {
    if (o.onError) {
      keepAlive(lock) // the callback may have thrown before it returned a promise; onError may await
      try {
        await runHolding(lock, () => o.onError(err, lock))
      } catch (hookError) {
        reportOnErrorFailure(hookError)
      }
    }
    throw err
  } finally {
    leave()
  }
}

/**
 * The synchronous twin of `withSessionWriteLock`: it blocks the thread (and the event loop) while it
 * waits, as `fs.appendFileSync` does. `fn` must be synchronous; a returned promise is not awaited.
 */
/** The sync twin's `fn` must be synchronous: an async one would write after the lock is gone. */
function checkSynchronous(fn) {
  const kind = fn.constructor?.name
  if (kind === 'AsyncFunction' || kind === 'AsyncGeneratorFunction') {
    throw invalidArgValue('fn', 'must be a synchronous function (use withSessionWriteLock for an async one)', fn)
  }
}

/** What the sync twin's `fn` returned; a promise is refused: its later writes would fail, the lock gone. */
function synchronousResult(value) {
  if (value === null || typeof value?.then !== 'function') return value
  value.then(undefined, () => {}) // its own failure (SESSION_WRITE_LOCK_LOST) must not go unhandled
  throw invalidArgValue('fn', 'returned a promise; use withSessionWriteLock for asynchronous work', value)
}

function withSessionWriteLockSync(sessionFile, options, callback) {
  const span = trace.spanContext('withSessionWriteLockSync', sessionFile, options)
  return trace.traceSync('withSessionWriteLockSync', span, () => holdDuringSync(sessionFile, options, callback, span))
}

function holdDuringSync(sessionFile, options, callback, span) {
  const { o, fn, nested } = lockCall(sessionFile, options, callback)
  checkSynchronous(fn)
  if (nested) {
    reentered(span, nested)
    const leaveNested = nested[kEnter]()
    try {
      return synchronousResult(fn(nested))
    } finally {
      leaveNested()
    }
  }
  const s = withSettings(o)
  signals.arm()
  let id
  try {
    id = native.acquireLockSync(sessionFile, s, s)
  } catch (err) {
    throw fromNative(err)
  }
  const lock = new SessionWriteLock(id, sessionFile, s, span)
  const leave = lock[kEnter]()
  try {
    return synchronousResult(runHolding(lock, fn))
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
    leave()
  }
}

/**
 * The narrow scope: takes the lock, appends one entry or an array of entries as JSONL lines in one
 * contiguous write, and releases. Entries are serialized first, so one that cannot be serialized
 * rejects with a TypeError before anything is locked or written.
 */
function appendSessionEntries(sessionFile, entries, options) {
  const span = trace.spanContext('appendSessionEntries', sessionFile, options)
  return trace.tracePromise('appendSessionEntries', span, () => appendHolding(sessionFile, entries, options, span))
}

async function appendHolding(sessionFile, entries, options, span) {
  checkSessionFile(sessionFile)
  const o = lockOptions(options)
  const { data, count } = encodeEntries(entries)
  const nested = reentry(sessionFile, o.reentrant)
  if (nested) {
    reentered(span, nested)
    return nested[kAppendEncoded](data, count)
  }
  const key = group.batchKey(sessionFile, o)
  if (key !== undefined) return group.join(key, { sessionFile, o }, data, count, span, commitBatch)
  const s = withSettings(o)
  const pending = acquireHandle(sessionFile, s)
  const id = typeof pending === 'number' ? pending : await pending
  const lock = new SessionWriteLock(id, sessionFile, s, span)
  const leave = lock[kEnter]()
  try {
    return lock[kAppendEncoded](data, count)
  } finally {
    leave()
  }
}

/** Takes the lock for a batch of appends (`lib/group.js`), then writes and settles it. */
async function commitBatch(batch) {
  const { sessionFile, o } = batch.call
  let lock
  try {
    const s = withSettings(o)
    const pending = acquireHandle(sessionFile, s)
    const id = typeof pending === 'number' ? pending : await pending
    lock = new SessionWriteLock(id, sessionFile, s)
  } catch (err) {
    group.close(batch)
    return group.fail(batch, err)
  }
  writeBatch(lock, batch)
}

/** One contiguous write of a batch under its lock, then the release; every caller gets its outcome. */
function writeBatch(lock, batch) {
  const { data, count } = group.close(batch)
  const acquiredAt = group.spansAcquired(batch, lock.lockPath)
  const leave = lock[kEnter]()
  let written
  try {
    written = lock[kAppendEncoded](data, count)
  } catch (err) {
    return group.fail(batch, err)
  } finally {
    group.spansReleased(batch, acquiredAt)
    leave()
  }
  group.settle(batch, written)
}

// A process that exits right after an append it did not await (`process.exit()` in the same tick) still
// writes it, as when appends were written at once: if the lock is free, the batch is committed now.
process.on('exit', () => {
  for (const batch of group.pending()) {
    const { sessionFile, o } = batch.call
    let lock
    try {
      const s = { ...withSettings(o), acquireTimeoutMs: 0 }
      lock = new SessionWriteLock(native.acquireLockSync(sessionFile, s, s), sessionFile, s)
    } catch {
      continue // busy, or gone: its callers' promises can no longer settle anyway
    }
    writeBatch(lock, batch)
  }
})

/** The synchronous twin of `appendSessionEntries`: it blocks the thread while it waits. */
function appendSessionEntriesSync(sessionFile, entries, options) {
  const span = trace.spanContext('appendSessionEntriesSync', sessionFile, options)
  return trace.traceSync('appendSessionEntriesSync', span, () => {
    checkSessionFile(sessionFile)
    lockOptions(options)
    const { data, count } = encodeEntries(entries)
    return holdDuringSync(sessionFile, options, (lock) => lock[kAppendEncoded](data, count), span)
  })
}

/** Process-wide counters and timings of this package's locks. */
function sessionLockStats() {
  return native.nativeLockStats()
}

/** A legacy `{ release }` handle: one holder of `lock`, released once whatever the order. */
function legacyHandle(lock) {
  const leave = lock[kEnter]()
  return { lockPath: lock.lockPath, release: async () => void leave() }
}

/**
 * Drop-in replacement for the legacy `acquireSessionWriteLock` of OpenClaw 2026.2 to 2026.7: same
 * parameters (`signal` included), resolves to `{ release }`. Unlike the legacy lock, two concurrent
 * callers in one process exclude each other; only a call made later in the same async flow, while the
 * lock is held, re-enters (`allowReentrant`), and the sidecar goes at the last release.
 */
function acquireSessionWriteLock(params) {
  const span = trace.spanContext('acquireSessionWriteLock', params?.sessionFile, params)
  return trace.tracePromise('acquireSessionWriteLock', span, () => acquireLegacyHandle(params, span))
}

async function acquireLegacyHandle(params, span) {
  const p = compat.acquireParams(params)
  if (p.signal?.aborted) throw compat.abortReason(p.signal)
  const o = lockOptions({
    acquireTimeoutMs: p.acquireTimeoutMs,
    staleMs: p.staleMs,
    maxHoldMs: p.maxHoldMs,
    signal: p.signal,
    owner: p.owner,
  })
  const nested = p.allowReentrant ? heldInContext(p.sessionFile) : undefined
  if (nested) {
    reentered(span, nested)
    return legacyHandle(nested)
  }
  const s = withSettings(o)
  // Mark the caller's async context now, synchronously, so that its later calls can re-enter.
  const ref = { lock: null, done: false }
  heldHere.enterWith(withRef(ref))
  let id
  try {
    id = await acquireHandle(p.sessionFile, s)
  } catch (err) {
    ref.done = true
    if (err instanceof SessionWriteLockAbortedError && p.signal?.aborted) throw compat.abortReason(p.signal)
    throw err
  }
  ref.lock = new SessionWriteLock(id, p.sessionFile, s)
  trace.spanAcquired(span, ref.lock.lockPath, id) // this span ends here; the hold goes on
  return legacyHandle(ref.lock)
}

/**
 * Ends every hold of this thread, as the legacy helper of that name did for gateways' own test suites
 * (`afterEach`): sidecars are removed, later writes through those holds fail with
 * `SESSION_WRITE_LOCK_LOST`, and the termination-signal listeners are removed until the next acquisition.
 */
function resetSessionWriteLockStateForTest() {
  revokeAllHere('reset by resetSessionWriteLockStateForTest')
  signals.disarm()
}

/** The asynchronous twin of `resetSessionWriteLockStateForTest`, as 2026.4+ exported it. */
async function drainSessionWriteLockStateForTest() {
  revokeAllHere('drained by drainSessionWriteLockStateForTest')
  signals.disarm()
}

// One `exports.name =` per export, so that ESM importers get named exports (cjs-module-lexer).
exports.withSessionWriteLock = withSessionWriteLock
exports.withSessionWriteLockSync = withSessionWriteLockSync
exports.appendSessionEntries = appendSessionEntries
exports.appendSessionEntriesSync = appendSessionEntriesSync
exports.acquireSessionWriteLock = acquireSessionWriteLock
exports.cleanStaleLockFiles = cleanup.cleanStaleLockFiles
exports.inspectSessionLocks = cleanup.inspectSessionLocks
exports.recoverSessionLocksOnStartup = cleanup.recoverSessionLocksOnStartup
exports.resolveSessionLockMaxHoldFromTimeout = compat.resolveSessionLockMaxHoldFromTimeout
exports.resolveSessionWriteLockOptions = compat.resolveSessionWriteLockOptions
exports.resolveSessionWriteLockAcquireTimeoutMs = compat.resolveSessionWriteLockAcquireTimeoutMs
exports.resolveSessionWriteLockStaleMs = compat.resolveSessionWriteLockStaleMs
exports.resolveSessionWriteLockMaxHoldMs = compat.resolveSessionWriteLockMaxHoldMs
exports.DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS = compat.DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS
exports.DEFAULT_SESSION_WRITE_LOCK_STALE_MS = compat.DEFAULT_SESSION_WRITE_LOCK_STALE_MS
exports.DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS = compat.DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS
exports.resetSessionWriteLockStateForTest = resetSessionWriteLockStateForTest
exports.drainSessionWriteLockStateForTest = drainSessionWriteLockStateForTest
exports.resolveSessionWriteLockConfig = config.resolveSessionWriteLockConfig
exports.configureSessionWriteLock = config.configureSessionWriteLock
exports.sessionLockStats = sessionLockStats
exports.DEFAULTS = config.DEFAULTS
exports.SessionWriteLock = SessionWriteLock
exports.SessionWriteLockError = errors.SessionWriteLockError
exports.SessionWriteLockTimeoutError = errors.SessionWriteLockTimeoutError
exports.SessionWriteLockStaleError = errors.SessionWriteLockStaleError
exports.isSessionWriteLockTimeoutError = errors.isSessionWriteLockTimeoutError
exports.isSessionWriteLockStaleError = errors.isSessionWriteLockStaleError
exports.isSessionWriteLockAcquireError = errors.isSessionWriteLockAcquireError
exports.SESSION_WRITE_LOCK_TIMEOUT_CODE = errors.SESSION_WRITE_LOCK_TIMEOUT_CODE
exports.SESSION_WRITE_LOCK_STALE_CODE = errors.SESSION_WRITE_LOCK_STALE_CODE
exports.SessionWriteLockAbortedError = errors.SessionWriteLockAbortedError
exports.SessionWriteLockLostError = errors.SessionWriteLockLostError
exports.SessionWriteLockReentrancyError = errors.SessionWriteLockReentrancyError
exports.SessionWriteLockUnsafePathError = errors.SessionWriteLockUnsafePathError
exports.SessionWriteLockConfigError = errors.SessionWriteLockConfigError
exports.SessionWriteLockNetworkFilesystemError = errors.SessionWriteLockNetworkFilesystemError
exports.SessionTranscriptCorruptError = errors.SessionTranscriptCorruptError
exports.SessionTranscriptTooLargeError = errors.SessionTranscriptTooLargeError
