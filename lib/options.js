'use strict'

// Argument checks for the public functions. Everything here runs before the disk is touched.

const { invalidArgType, invalidArgValue } = require('./errors')

/** Built-in limits: the legacy lock's, so that swapping the import changes nothing by itself. */
const DEFAULTS = Object.freeze({
  acquireTimeoutMs: 10_000,
  staleMs: 30 * 60_000,
  maxHoldMs: 5 * 60_000,
  noticeAfterMs: 2_000,
  durability: 'none',
})

const DURABILITIES = ['none', 'data', 'full']

const LOCK_OPTION_KEYS = new Set([
  'acquireTimeoutMs',
  'staleMs',
  'maxHoldMs',
  'noticeAfterMs',
  'durability',
  'signal',
  'reentrant',
  'onRevoked',
  'onWait',
  'onError',
])

function checkSessionFile(sessionFile, name = 'sessionFile') {
  if (typeof sessionFile !== 'string') throw invalidArgType(name, 'of type string', sessionFile)
  if (sessionFile.length === 0) throw invalidArgValue(name, 'argument must be a non-empty string', sessionFile)
  if (sessionFile.includes('\0')) throw invalidArgValue(name, 'argument must not contain null bytes', sessionFile)
}

function checkFunction(fn, name) {
  if (typeof fn !== 'function') throw invalidArgType(name, 'of type function', fn)
}

/** A duration in milliseconds: a non-negative number, or `Infinity` where `allowInfinity`. */
function duration(value, name, allowInfinity) {
  if (typeof value !== 'number') throw invalidArgType(`options.${name}`, 'of type number', value)
  if (Number.isNaN(value) || value < 0 || (!allowInfinity && !Number.isFinite(value))) {
    const expected = allowInfinity ? 'a non-negative number or Infinity' : 'a non-negative finite number'
    throw invalidArgValue(`options.${name}`, `must be ${expected}`, value)
  }
  return value
}

/**
 * Validates the options of a lock call and fills in defaults. `extraKeys` are the options a particular
 * entry point accepts on top of the lock's own.
 */
function lockOptions(options, extraKeys = []) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  for (const key of Object.keys(options)) {
    if (!LOCK_OPTION_KEYS.has(key) && !extraKeys.includes(key)) {
      throw invalidArgValue(`options.${key}`, 'option is not known', options[key])
    }
  }
  const pick = (key, allowInfinity) =>
    options[key] === undefined ? DEFAULTS[key] : duration(options[key], key, allowInfinity)
  const { signal, reentrant, onRevoked, onWait, onError, durability = DEFAULTS.durability } = options
  if (signal !== undefined && !isAbortSignal(signal)) throw invalidArgType('options.signal', 'an AbortSignal', signal)
  if (reentrant !== undefined && typeof reentrant !== 'boolean') {
    throw invalidArgType('options.reentrant', 'of type boolean', reentrant)
  }
  for (const [name, fn] of Object.entries({ onRevoked, onWait, onError })) {
    if (fn !== undefined) checkFunction(fn, `options.${name}`)
  }
  if (!DURABILITIES.includes(durability)) {
    throw invalidArgValue('options.durability', `must be one of ${DURABILITIES.map((d) => `"${d}"`).join(', ')}`, durability)
  }
  return {
    acquireTimeoutMs: pick('acquireTimeoutMs', true),
    staleMs: pick('staleMs', true),
    maxHoldMs: pick('maxHoldMs', true),
    noticeAfterMs: pick('noticeAfterMs', true),
    durability,
    signal,
    reentrant: reentrant !== false,
    onRevoked,
    onWait,
    onError,
  }
}

function isAbortSignal(value) {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof value.aborted === 'boolean' &&
    typeof value.addEventListener === 'function'
  )
}

module.exports = { DEFAULTS, checkSessionFile, checkFunction, duration, lockOptions }
