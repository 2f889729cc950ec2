'use strict'

// Error classes with stable `code`s, and the conversion of native error descriptors into them.

const { getSystemErrorMap } = require('node:util')

class SessionWriteLockError extends Error {
  constructor(message, code, fields, options) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    Object.assign(this, fields)
  }
}

/** The lock stayed busy for the whole timeout. This is contention, never a model or provider failure. */
class SessionWriteLockTimeoutError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, 'SESSION_WRITE_LOCK_TIMEOUT', { reason: 'session_busy', ...fields })
  }
}

class SessionWriteLockAbortedError extends SessionWriteLockError {
  constructor(message, fields, options) {
    super(message, 'SESSION_WRITE_LOCK_ABORTED', fields, options)
  }
}

/** The hold was released, revoked by the watchdog, or its sidecar was taken over. */
class SessionWriteLockLostError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, 'SESSION_WRITE_LOCK_LOST', fields)
  }
}

/** A nested call with `reentrant: false`. */
class SessionWriteLockReentrancyError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, 'SESSION_WRITE_LOCK_REENTRANT', fields)
  }
}

/** A symlink, directory, FIFO or hard link sits at the lock path. It is left untouched. */
class SessionWriteLockUnsafePathError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, 'SESSION_WRITE_LOCK_UNSAFE_PATH', fields)
  }
}

/** The session directory is on NFS, SMB or another network filesystem, and no opt-in was given. */
class SessionWriteLockNetworkFilesystemError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, 'SESSION_WRITE_LOCK_NETWORK_FS', fields)
  }
}

/** A configuration value (file, environment or code) is invalid. */
class SessionWriteLockConfigError extends SessionWriteLockError {
  constructor(message, fields) {
    super(message, 'SESSION_WRITE_LOCK_CONFIG', fields)
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

const DESCRIPTOR_MARK = '\u0001swl:'

/**
 * Turns an error thrown by the native binding into the matching public error. `lockPath` names the
 * sidecar when the native side only knew the lock by its id.
 */
function fromNative(err, cause, lockPath) {
  const message = typeof err?.message === 'string' ? err.message : ''
  if (!message.startsWith(DESCRIPTOR_MARK)) return err
  const { kind, code, message: text, ...fields } = JSON.parse(message.slice(DESCRIPTOR_MARK.length))
  switch (kind) {
    case 'timeout':
      return new SessionWriteLockTimeoutError(text, fields)
    case 'aborted':
      return new SessionWriteLockAbortedError(text, fields, cause === undefined ? undefined : { cause })
    case 'lost':
      if (lockPath && String(fields.lockPath).startsWith('(lock ')) {
        return new SessionWriteLockLostError(`session write lock lost (${fields.reason}): ${lockPath}`, { ...fields, lockPath })
      }
      return new SessionWriteLockLostError(text, fields)
    case 'unsafe':
      return new SessionWriteLockUnsafePathError(text, fields)
    case 'config':
      return new SessionWriteLockConfigError(text, fields)
    case 'network':
      return new SessionWriteLockNetworkFilesystemError(text, fields)
    case 'type': {
      const e = new TypeError(text)
      e.code = code
      return e
    }
    default: {
      // I/O: shaped like Node's own fs errors (code, errno, syscall, path). On Windows the addon has no
      // number to give (a Win32 code is not what Node reports); Node's own, libuv's, is found by name.
      const e = new Error(`${code}: ${text}`)
      Object.assign(e, { code, ...fields })
      if (e.errno == null) e.errno = errnoOf(code)
      return e
    }
  }
}

let errnoByName
/** libuv's errno for an error name, as Node's fs errors carry it (`ENOENT` is -2 on Linux, -4058 on Windows). */
function errnoOf(code) {
  errnoByName ??= new Map([...getSystemErrorMap()].map(([errno, [name]]) => [name, errno]))
  return errnoByName.get(code)
}

module.exports = {
  SessionWriteLockError,
  SessionWriteLockTimeoutError,
  SessionWriteLockAbortedError,
  SessionWriteLockLostError,
  SessionWriteLockReentrancyError,
  SessionWriteLockUnsafePathError,
  SessionWriteLockConfigError,
  SessionWriteLockNetworkFilesystemError,
  invalidArgType,
  invalidArgValue,
  fromNative,
}
