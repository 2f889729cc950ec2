'use strict'

// Error classes with stable `code`s, and the conversion of native error descriptors into them. The codes
// of errors the native side raises come from it (`errorCodes()`); the few raised only here are defined
// here.

const { getSystemErrorMap } = require('node:util')
const {
  constants: { MAX_STRING_LENGTH },
} = require('node:buffer')

const native = require('./native')

const CODES = native.errorCodes()

/**
 * The `code`s of lock contention that OpenClaw 2026.5+ recognises (`isSessionWriteLockTimeoutError`,
 * `isSessionWriteLockAcquireError`), so that the gateway's failover never reads a busy session as a
 * model failure, whichever of our functions raised it.
 */
const SESSION_WRITE_LOCK_TIMEOUT_CODE = CODES.timeout
const SESSION_WRITE_LOCK_STALE_CODE = 'OPENCLAW_SESSION_WRITE_LOCK_STALE'

class SessionWriteLockError extends Error {
  constructor(message, code, fields, options) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    Object.assign(this, fields)
  }
}

/** An owner object that prints as the legacy error's `owner` string did (`label`, from the native side). */
function withLabel(owner, label) {
  if (typeof owner !== 'object' || owner === null || label === undefined) return owner
  return Object.defineProperty({ ...owner }, 'toString', { value: () => label, enumerable: false })
}

/**
 * The lock stayed busy for the whole timeout. This is contention, never a model or provider failure.
 * Also constructible as 2026.5+ did it: `new SessionWriteLockTimeoutError({ timeoutMs, owner, lockPath })`.
 */
class SessionWriteLockTimeoutError extends SessionWriteLockError {
  constructor(message, fields) {
    if (typeof message === 'object' && message !== null && fields === undefined) {
      const { timeoutMs, owner, lockPath } = message
      ;[message, fields] = [
        `session file locked (timeout ${timeoutMs}ms): ${owner} ${lockPath}`,
        { timeoutMs, owner, lockPath },
      ]
    }
    const { ownerLabel, ...rest } = fields ?? {}
    super(message, SESSION_WRITE_LOCK_TIMEOUT_CODE, {
      reason: 'session_busy',
      ...rest,
      owner: withLabel(rest.owner, ownerLabel),
    })
  }
}

/**
 * OpenClaw 2026.7's error for a sidecar it judged stale but would not remove. This package never throws
 * it (it waits for the holder instead, then times out); it is exported so that gateway code importing
 * it, or constructing it as 2026.7 did (`{ owner, lockPath, staleReasons }`), keeps working.
 */
class SessionWriteLockStaleError extends SessionWriteLockError {
  constructor(message, fields) {
    if (typeof message === 'object' && message !== null && fields === undefined) {
      const staleReasons = message.staleReasons?.length ? message.staleReasons : ['unknown']
      const { owner, lockPath } = message
      ;[message, fields] = [
        `session file lock stale (${staleReasons.join(', ')}): ${owner} ${lockPath}`,
        { owner, lockPath, staleReasons },
      ]
    }
    super(message, SESSION_WRITE_LOCK_STALE_CODE, fields)
  }
}

const hasCode = (err, code) => typeof err === 'object' && err !== null && err.code === code

/** A lock timeout: ours, or any error with the code OpenClaw 2026.5+ gives one. */
function isSessionWriteLockTimeoutError(err) {
  return err instanceof SessionWriteLockTimeoutError || hasCode(err, SESSION_WRITE_LOCK_TIMEOUT_CODE)
}

/** A stale-lock failure as OpenClaw 2026.7 reports one. */
function isSessionWriteLockStaleError(err) {
  return err instanceof SessionWriteLockStaleError || hasCode(err, SESSION_WRITE_LOCK_STALE_CODE)
}

/** Any failure to acquire because of contention: a timeout or a stale-lock failure. */
function isSessionWriteLockAcquireError(err) {
  return isSessionWriteLockTimeoutError(err) || isSessionWriteLockStaleError(err)
}

/** The wait was aborted by its `signal`; `cause` is the signal's reason. */
class SessionWriteLockAbortedError extends SessionWriteLockError {
  constructor(message, fields, options) {
    super(message, CODES.aborted, fields, options)
  }
}

/** The hold was released, revoked by the watchdog, or its sidecar was taken over. */
class SessionWriteLockLostError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, CODES.lost, fields)
  }
}

/** A nested call with `reentrant: false`. */
class SessionWriteLockReentrancyError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, 'SESSION_WRITE_LOCK_REENTRANT', fields)
  }
}

/** A symlink, directory, FIFO or hard link sits at the lock path (or the transcript's). It is left untouched. */
class SessionWriteLockUnsafePathError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, CODES.unsafePath, fields)
  }
}

/** The session directory is on NFS, SMB or another network filesystem, and no opt-in was given. */
class SessionWriteLockNetworkFilesystemError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, CODES.network, fields)
  }
}

/** A configuration value (file, environment or code) is invalid. */
class SessionWriteLockConfigError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, CODES.config, fields)
  }
}

/** A transcript line that is not valid JSON (other than an unterminated last line). */
class SessionTranscriptCorruptError extends SessionWriteLockError {
  constructor(path, line, cause) {
    super(
      `invalid JSON on line ${line} of ${path}: ${cause.message}`,
      'SESSION_TRANSCRIPT_CORRUPT',
      { path, line },
      { cause },
    )
  }
}

/** `lock.read()` of a transcript larger than a JavaScript string can hold. */
class SessionTranscriptTooLargeError extends SessionWriteLockError {
  constructor(path, size) {
    super(
      `transcript ${path} is ${size} bytes, more than lock.read() can return in one string (${MAX_STRING_LENGTH}); read it in pieces instead`,
      'SESSION_TRANSCRIPT_TOO_LARGE',
      { path, size, limit: MAX_STRING_LENGTH },
    )
  }
}

function invalidArgType(name, expected, value) {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

function invalidArgValue(name, reason, value) {
  const err = new TypeError(`The "${name}" ${reason}. Received ${describe(value)}`)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
}

function describe(value) {
  if (value === null) return 'null'
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`
  if (typeof value === 'bigint') return `${value}n`
  return `type ${typeof value} (${String(value)})`
}

/** The class of each kind of native error descriptor (`LockError::descriptor`). */
const CLASS_OF = {
  timeout: SessionWriteLockTimeoutError,
  aborted: SessionWriteLockAbortedError,
  lost: SessionWriteLockLostError,
  unsafe: SessionWriteLockUnsafePathError,
  config: SessionWriteLockConfigError,
  network: SessionWriteLockNetworkFilesystemError,
}

/**
 * Turns an error thrown by the native binding into the matching public error. `cause` becomes the
 * `cause` of an abort; `lockPath` names the sidecar when the native side knew the lock only by its id.
 */
function fromNative(err, { cause, lockPath } = {}) {
  const message = typeof err?.message === 'string' ? err.message : ''
  if (!message.startsWith(native.ERROR_DESCRIPTOR_MARK)) return err
  const { kind, code, message: text, ...fields } = JSON.parse(message.slice(native.ERROR_DESCRIPTOR_MARK.length))
  if (kind === 'lost' && fields.lockPath === null) {
    return new SessionWriteLockLostError(`session write lock lost (${fields.reason}): ${lockPath}`, {
      ...fields,
      lockPath,
    })
  }
  if (kind === 'aborted')
    return new SessionWriteLockAbortedError(text, fields, cause === undefined ? undefined : { cause })
  if (CLASS_OF[kind]) return new CLASS_OF[kind](text, fields)
  if (kind === 'type') return Object.assign(new TypeError(text), { code })
  // I/O: shaped like Node's own fs errors (code, errno, syscall, path). On Windows the addon has no
  // number to give (a Win32 code is not what Node reports); Node's own, libuv's, is found by name.
  const e = new Error(`${code}: ${text}`)
  Object.assign(e, { code, ...fields })
  if (e.errno == null) e.errno = errnoOf(code)
  return e
}

let errnoByName
/** libuv's errno for an error name, as Node's fs errors carry it (`ENOENT` is -2 on Linux, -4058 on Windows). */
function errnoOf(code) {
  errnoByName ??= new Map([...getSystemErrorMap()].map(([errno, [name]]) => [name, errno]))
  return errnoByName.get(code)
}

module.exports = {
  SESSION_WRITE_LOCK_TIMEOUT_CODE,
  SESSION_WRITE_LOCK_STALE_CODE,
  SessionWriteLockError,
  SessionWriteLockTimeoutError,
  SessionWriteLockStaleError,
  isSessionWriteLockTimeoutError,
  isSessionWriteLockStaleError,
  isSessionWriteLockAcquireError,
  SessionWriteLockAbortedError,
  SessionWriteLockLostError,
  SessionWriteLockReentrancyError,
  SessionWriteLockUnsafePathError,
  SessionWriteLockConfigError,
  SessionWriteLockNetworkFilesystemError,
  SessionTranscriptCorruptError,
  SessionTranscriptTooLargeError,
  invalidArgType,
  invalidArgValue,
  fromNative,
}
