'use strict'

// The lock object handed to callbacks, and the bookkeeping that aborts its signal when the hold is
// revoked.

const path = require('node:path')

const native = require('./native')
const { SessionWriteLockLostError, fromNative } = require('./errors')
const { encodeEntries, readEntries } = require('./entries')
const trace = require('./trace')

const kId = Symbol('id')
const kController = Symbol('controller')
const kRelease = Symbol('release')
const kAppendEncoded = Symbol('appendEncoded')
const kKeepAlive = Symbol('keepAlive')
const kEnter = Symbol('enter')
const kHolders = Symbol('holders')
const kReleased = Symbol('released')
const kRevoke = Symbol('revoke')
const kSpan = Symbol('span')
const kSessionFile = Symbol('sessionFile')
const kCwd = Symbol('cwd')

/** The longest delay a Node timer takes (longer ones fire at once, with a TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Keeps this thread's event loop alive while a callback-scoped hold of it is live (held, not yet
 * released nor revoked), so that a callback awaiting only `lock.signal` is still there to see the
 * revocation. One timer for all of them, referenced while any is live: a timer per hold cost a timer
 * insertion and removal on every acquisition, the slowest step between a handoff and its callback.
 * Called once the callback has started (the event loop cannot end while it runs synchronously), so
 * that not even the timer's reference comes before it; a hold released or revoked by then is left be.
 */
let keptAlive = 0
let keeper
function keepAlive(lock) {
  if (lock[kKeepAlive] || live.get(lock[kId]) !== lock) return // kept already, or no longer live
  lock[kKeepAlive] = true
  if (keptAlive++ === 0) (keeper ??= setInterval(() => {}, MAX_TIMER_MS)).ref()
}
function stopKeepingAlive(lock) {
  if (!lock[kKeepAlive]) return
  lock[kKeepAlive] = false
  if (--keptAlive === 0) keeper.unref()
}

/** Locks of this thread that are held right now, by native id, for revocation events. */
const live = new Map()

/** The lock paths of locks granted after a wait, by native id, until their lock object takes them. */
const grantedPaths = new Map()

/**
 * Lock `id` was granted after a wait for `lockPath` (asked before it): its lock object takes the path
 * from here instead of asking the native side between the grant and the callback.
 */
function grantedLockPath(id, lockPath) {
  if (lockPath !== null) grantedPaths.set(id, lockPath)
}

/** Marks a lock of this thread lost and aborts its signal; returns the error that says so. */
function markLost(lock, reason) {
  live.delete(lock[kId])
  stopKeepingAlive(lock)
  const error = new SessionWriteLockLostError(`session write lock lost (${reason}): ${lock.lockPath}`, {
    lockPath: lock.lockPath,
    reason,
  })
  trace.revoked(lock, lock[kId], error)
  lock[kController] ??= new AbortController()
  lock[kController].abort(error)
  return error
}

/** Reports a revocation once: the lock's `onRevoked`, else a process warning. */
function notifyRevoked(lock, reason) {
  const error = markLost(lock, reason)
  if (lock.onRevoked) lock.onRevoked(error)
  else process.emitWarning(error.message, { code: 'SESSION_WRITE_LOCK_REVOKED' })
}

native.setRevokeListener((id, reason) => {
  const lock = live.get(id)
  if (lock) notifyRevoked(lock, reason)
})

/**
 * A call through the lock found it lost (the revocation listener may not have run yet): the signal
 * aborts and the notice goes out now, before the caller sees the error. The listener then finds nothing.
 */
function failed(lock, err) {
  const error = fromNative(err, { lockPath: lock.lockPath })
  if (error?.code === 'SESSION_WRITE_LOCK_LOST' && live.get(lock[kId]) === lock) notifyRevoked(lock, error.reason)
  return error
}

/**
 * Ends every hold of this thread as lost (`reason`): their sidecars go, later writes through them and
 * calls nested in them fail with `SESSION_WRITE_LOCK_LOST`. For termination signals and test resets.
 */
function revokeAllHere(reason) {
  const locks = [...live.values()]
  for (const lock of locks) lock[kRevoke](reason)
  return locks.length
}

// A process that exits while holding (process.exit, an uncaught exception) removes its sidecars on the way
// out. Nothing depends on it: the kernel drops the lock anyway, and a leftover sidecar is recovered at
// once by the next acquirer. It only keeps the session directory tidy.
process.on('exit', () => {
  for (const lock of Array.from(live.values())) lock[kRelease]() // a copy: releasing deletes from `live`
})

/** A held session lock, as the callback of `withSessionWriteLock` sees it. */
class SessionWriteLock {
  /**
   * `settings`: those in force for the call that took it (`onRevoked`, `durability`, `owner` are read).
   * `span`: the tracing context of that call (`lib/trace.js`), filled in at acquisition and release.
   */
  constructor(id, sessionFile, { onRevoked, durability = 'none', owner } = {}, span = undefined) {
    this[kId] = id
    this[kKeepAlive] = false
    this[kController] = undefined // created on first use of `signal`: most holds never look at it
    this[kHolders] = 0
    this[kReleased] = false
    this.onRevoked = onRevoked
    this.durability = durability
    this.lockPath = grantedPaths.get(id) ?? native.heldLockPath(id)
    grantedPaths.delete(id)
    // Resolved when first read (most holds never read it), against the directory of now.
    this[kSessionFile] = sessionFile
    this[kCwd] = path.isAbsolute(sessionFile) ? undefined : process.cwd()
    this.owner = owner
    this[kSpan] = span
    live.set(id, this)
    trace.acquired(this, id, span)
  }

  /** The transcript, as an absolute path. */
  get sessionFile() {
    if (this[kCwd] !== undefined) {
      this[kSessionFile] = path.resolve(this[kCwd], this[kSessionFile])
      this[kCwd] = undefined
    }
    return this[kSessionFile]
  }

  /** Aborted, with a `SessionWriteLockLostError` as its reason, if the hold is revoked. */
  get signal() {
    this[kController] ??= new AbortController()
    return this[kController].signal
  }

  /** Whether the lock is still held. */
  get held() {
    return native.lockHeld(this[kId])
  }

  /** Throws `SessionWriteLockLostError` unless the lock is held and its sidecar is still ours. */
  assertHeld() {
    try {
      native.assertLockHeld(this[kId])
    } catch (err) {
      throw failed(this, err)
    }
  }

  /**
   * Appends one entry or an array of entries as JSONL lines, in one contiguous write. A torn last line
   * left by a crash is repaired first; a failed write is rolled back. Throws `SessionWriteLockLostError`
   * if the hold was revoked or the callback has settled.
   */
  append(entries) {
    const { data, count } = encodeEntries(entries)
    return this[kAppendEncoded](data, count)
  }

  /** Appends already-encoded JSONL lines. */
  [kAppendEncoded](data, count) {
    let written
    try {
      written = native.appendLocked(this[kId], data, this.durability)
    } catch (err) {
      throw failed(this, err)
    }
    if (written.repair) {
      trace.repaired(this, written)
      process.emitWarning(
        `repaired a torn last line of ${this.sessionFile} (${written.repair}${written.quarantinePath ? `, moved to ${written.quarantinePath}` : ''})`,
        { code: 'SESSION_TRANSCRIPT_REPAIRED' },
      )
    }
    return { entries: count, ...written }
  }

  /** Reads and parses the transcript (an unterminated last line is skipped). */
  read() {
    this.assertHeld()
    return readEntries(this.sessionFile)
  }

  /** Replaces the whole transcript atomically with these entries (temporary file and rename). */
  rewrite(entries) {
    const { data, count } = encodeEntries(Array.isArray(entries) ? entries : [entries])
    try {
      return { entries: count, bytes: native.rewriteLocked(this[kId], data, this.durability) }
    } catch (err) {
      throw failed(this, err)
    }
  }

  /**
   * One more holder (a nested acquisition): returns its `leave`, idempotent. The lock is released when
   * the last holder leaves, in whatever order they leave.
   */
  [kEnter]() {
    this[kHolders] += 1
    let left = false
    return () => {
      if (left) return false
      left = true
      this[kHolders] -= 1
      return this[kHolders] > 0 ? false : this[kRelease]()
    }
  }

  /** Ends the hold as lost, without the revocation warning (the caller reports it). */
  [kRevoke](reason) {
    native.revokeLock(this[kId], reason)
    markLost(this, reason)
  }

  /**
   * Releases the lock (the Rust guard unlinks the sidecar, then closes it), whoever still holds it.
   * Idempotent. Returns whether it was held until now.
   */
  [kRelease]() {
    const unreported = live.get(this[kId]) === this
    live.delete(this[kId])
    this[kReleased] = true
    trace.releasing(this, this[kId], this[kSpan])
    const lost = native.releaseLock(this[kId])
    stopKeepingAlive(this) // after the release, which a waiter of another process may be woken by
    // Revoked while the callback was busy (a synchronous step past maxHoldMs), and the revocation
    // listener has not run yet: report it now, exactly once (the listener finds nothing left).
    if (lost !== null && unreported && lost !== 'released') notifyRevoked(this, lost)
    return lost === null
  }
}

/** Whether a hold ended without a release: revoked, taken over, or ended by a signal or a reset. */
function isLost(lock) {
  return !lock[kReleased] && !lock.held
}

/** Whether a hold was released (by its last holder, or at exit). */
function isReleased(lock) {
  return lock[kReleased]
}

module.exports = {
  MAX_TIMER_MS,
  SessionWriteLock,
  kRelease,
  kAppendEncoded,
  kEnter,
  keepAlive,
  grantedLockPath,
  revokeAllHere,
  isLost,
  isReleased,
}
