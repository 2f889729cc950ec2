'use strict'

// Settings in force: the native layer resolves call options, configureSessionWriteLock(), the
// environment, openclaw.json and the defaults, in that order, and owns the keys and the defaults. This
// file only converts.

const native = require('./native')
const { fromNative, invalidArgType } = require('./errors')

/** The built-in defaults, from the native layer. */
const DEFAULTS = Object.freeze(native.defaultLockSettings())

/** The setting keys (`acquireTimeoutMs`, ..., `durability`), in report order. */
const KEYS = Object.freeze(Object.keys(DEFAULTS))

const warned = new Set()

function resolveNative(fn, call = {}, configPath) {
  let r
  try {
    r = fn(call, configPath)
  } catch (err) {
    throw fromNative(err)
  }
  for (const { code, message } of r.warnings ?? []) {
    if (warned.has(message)) continue
    warned.add(message)
    process.emitWarning(message, { code })
  }
  return r
}

/**
 * The settings for one lock call: its own options over every configured layer. Resolved natively on
 * every call (one `stat` of openclaw.json), so an edit applies to the next acquisition.
 */
function effectiveConfig(call, configPath) {
  return resolveNative(native.lockSettings, call, configPath)
}

/**
 * Each setting in force, with where it came from: `call`, `configure`, `env:<NAME>`, `file:<path>` or
 * `default`.
 */
function resolveSessionWriteLockConfig(options = {}) {
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options)
  const { configPath, ...call } = options
  const { lockOptions } = require('./options')
  const checked = lockOptions({ ...call, ...(configPath === undefined ? {} : { configPath }) })
  const {
    warnings: _emitted,
    configPath: found,
    ...settings
  } = resolveNative(native.resolveLockConfig, checked.call, checked.configPath)
  return { configPath: found ?? null, ...settings }
}

/** Settings from code, above the environment and the file (below per-call options). `null` clears one. */
function configureSessionWriteLock(partial) {
  if (typeof partial !== 'object' || partial === null) throw invalidArgType('partial', 'of type object', partial)
  const entries = Object.entries(partial).map(([key, value]) => ({
    key,
    kind: value === null ? 'null' : typeof value,
    number: typeof value === 'number' ? value : undefined,
    text: typeof value === 'number' ? undefined : String(value),
  }))
  try {
    native.configureLock(entries)
  } catch (err) {
    throw fromNative(err)
  }
}

module.exports = { DEFAULTS, KEYS, effectiveConfig, resolveSessionWriteLockConfig, configureSessionWriteLock }
