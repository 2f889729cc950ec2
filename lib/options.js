'use strict'

// Argument checks for the public functions. Everything here runs before the disk is touched. Per-call
// limits are only checked here; what is in force comes from lib/config.js, which resolves the layers.

const native = require('./native')
const { invalidArgType, invalidArgValue } = require('./errors')

/** `none`, `data`, `full`: the native `Durability` enum's values. */
const DURABILITIES = Object.values(native.Durability)
/** The duration settings (`acquireTimeoutMs`, `staleMs`, ...): the native defaults' numeric keys. */
const LIMITS = Object.entries(native.defaultLockSettings())
  .filter(([, value]) => typeof value === 'number')
  .map(([key]) => key)
const LOCK_OPTION_KEYS = new Set([
  ...LIMITS,
  'durability',
  'configPath',
  'signal',
  'reentrant',
  'onRevoked',
  'onWait',
  'onError',
  'allowNetworkFilesystem',
  'owner',
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
 * Validates the options of a lock call. Returns the per-call settings (`call`, only what was given) and
 * the behavioural options.
 */
function lockOptions(options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  for (const key of Object.keys(options)) {
    if (!LOCK_OPTION_KEYS.has(key)) throw invalidArgValue(`options.${key}`, 'option is not known', options[key])
  }
  const call = {}
  for (const key of LIMITS) {
    if (options[key] !== undefined) call[key] = duration(options[key], key, true)
  }
  const { signal, reentrant, onRevoked, onWait, onError, durability, configPath, allowNetworkFilesystem, owner } =
    options
  if (owner !== undefined) checkOwner(owner, 'options.owner')
  if (allowNetworkFilesystem !== undefined && typeof allowNetworkFilesystem !== 'boolean') {
    throw invalidArgType('options.allowNetworkFilesystem', 'of type boolean', allowNetworkFilesystem)
  }
  if (durability !== undefined) {
    if (!DURABILITIES.includes(durability)) {
      throw invalidArgValue(
        'options.durability',
        `must be one of ${DURABILITIES.map((d) => `"${d}"`).join(', ')}`,
        durability,
      )
    }
    call.durability = durability
  }
  if (configPath !== undefined) checkSessionFile(configPath, 'options.configPath')
  if (signal !== undefined && !isAbortSignal(signal)) throw invalidArgType('options.signal', 'an AbortSignal', signal)
  if (reentrant !== undefined && typeof reentrant !== 'boolean') {
    throw invalidArgType('options.reentrant', 'of type boolean', reentrant)
  }
  if (onRevoked !== undefined) checkFunction(onRevoked, 'options.onRevoked')
  if (onWait !== undefined) checkFunction(onWait, 'options.onWait')
  if (onError !== undefined) checkFunction(onError, 'options.onError')
  // withSettings (index.js) copies these keys one by one: a key added here must be added there.
  return {
    call,
    configPath,
    signal,
    reentrant: reentrant !== false,
    onRevoked,
    onWait,
    onError,
    allowNetworkFilesystem,
    owner,
  }
}

/** The most an `owner` label may hold, as the payload keeps it. */
const MAX_OWNER_CHARS = 256

/** Who holds, in words: a non-empty string of at most 256 characters (a run id, a session key). */
function checkOwner(owner, name) {
  if (typeof owner !== 'string') throw invalidArgType(name, 'of type string', owner)
  if (owner.length === 0 || owner.length > MAX_OWNER_CHARS) {
    throw invalidArgValue(name, `must be 1 to ${MAX_OWNER_CHARS} characters`, owner)
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

module.exports = { LIMITS, checkSessionFile, checkFunction, checkOwner, duration, lockOptions, isAbortSignal }
