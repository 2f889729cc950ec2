'use strict'

// The lock object handed to callbacks, and the bookkeeping that aborts its signal when the hold is
// revoked.

const native = require('../binding')
const { SessionWriteLockLostError, fromNative } = require('./errors')

const kHandle = Symbol('handle')
const kController = Symbol('controller')
const kRelease = Symbol('release')

/** Locks of this thread that are held right now, by native id, for revocation events. */
const live = new Map()

native.setRevokeListener((id, reason) => {
  const lock = live.get(id)
  if (!lock) return
  live.delete(id)
  const error = new SessionWriteLockLostError(`session write lock lost (${reason}): ${lock.lockPath}`, {
    lockPath: lock.lockPath,
    reason,
  })
  lock[kController].abort(error)
  if (lock.onRevoked) lock.onRevoked(error)
  else process.emitWarning(error.message, { code: 'SESSION_WRITE_LOCK_REVOKED' })
})

// A process that exits while holding (process.exit, an uncaught exception) removes its sidecars on the way
// out. Nothing depends on it: the kernel drops the lock anyway, and a leftover sidecar is recovered at
// once by the next acquirer. It only keeps the session directory tidy.
process.on('exit', () => {
  for (const lock of [...live.values()]) lock[kRelease]()
})

/** A held session lock, as the callback of `withSessionWriteLock` sees it. */
class SessionWriteLock {
  constructor(handle, onRevoked) {
    this[kHandle] = handle
    this[kController] = new AbortController()
    this.onRevoked = onRevoked
    this.lockPath = handle.lockPath
    this.sessionFile = handle.sessionFile
    live.set(handle.id, this)
  }

  /** Aborted, with a `SessionWriteLockLostError` as its reason, if the hold is revoked. */
  get signal() {
    return this[kController].signal
  }

  /** Whether the lock is still held. */
  get held() {
    return this[kHandle].held
  }

  /** Throws `SessionWriteLockLostError` unless the lock is held and its sidecar is still ours. */
  assertHeld() {
    try {
      this[kHandle].assertHeld()
    } catch (err) {
      throw fromNative(err)
    }
  }

  /** Releases the lock (the Rust guard unlinks the sidecar, then closes it). Idempotent. */
  [kRelease]() {
    live.delete(this[kHandle].id)
    return this[kHandle].release()
  }
}

module.exports = { SessionWriteLock, kRelease }
