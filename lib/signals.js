'use strict'

// Termination signals end every hold, as each legacy generation did: a holder stopped by SIGINT, SIGTERM,
// SIGQUIT or SIGABRT leaves no `.jsonl.lock` behind. If nothing else listens for the signal, it is raised
// again once the holds are gone, so the process ends as it would have; if the application listens too,
// it decides, and the process lives on with its holds ended (later writes through them fail with
// `SESSION_WRITE_LOCK_LOST`). Armed at the first acquisition, on the main thread (workers get no signals).

const { isMainThread } = require('node:worker_threads')

const native = require('./native')
const { revokeAllHere } = require('./lock')

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGABRT']
const listeners = new Map()
let armed = false

function onSignal(signal) {
  revokeAllHere(`released on ${signal}`)
  if (process.listenerCount(signal) !== 1) return
  disarm()
  native.releaseAllLocks() // the holds of worker threads too: the process is about to end
  try {
    process.kill(process.pid, signal)
  } catch {
    // A signal this platform cannot raise (Windows knows few): the holds are gone at least.
  }
}

/** Listens for the termination signals, once. Cheap to call on every acquisition. */
function arm() {
  if (armed || !isMainThread) return
  armed = true
  for (const signal of SIGNALS) {
    const listener = () => onSignal(signal)
    try {
      process.on(signal, listener)
      listeners.set(signal, listener)
    } catch {
      // Not a signal this platform lets a process listen for.
    }
  }
}

/** Stops listening (the test-state helpers do this, as the legacy ones did). */
function disarm() {
  for (const [signal, listener] of listeners) process.off(signal, listener)
  listeners.clear()
  armed = false
}

module.exports = { arm, disarm, SIGNALS }
