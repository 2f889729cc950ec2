'use strict'

// When each waiting call is due its one wait notice (`noticeAfterMs`). One timer per thread serves every
// wait, instead of a timer armed and cleared per wait: clearing a wait's timer came right between the
// kernel's grant and the caller's callback, the slowest step left there. A wait that ends only marks its
// entry done; the timer skips done entries when it fires.

/** A queue of waits per `noticeAfterMs` value: waits that share one are due in the order they began. */
const queues = new Map()

/**
 * Calls `notice()` once `afterMs` have passed, unless the returned entry's `done` is set first. The
 * timer does not keep the process alive: a wait does that itself.
 */
function noticeAfter(afterMs, notice) {
  let queue = queues.get(afterMs)
  if (queue === undefined) queues.set(afterMs, (queue = { afterMs, entries: [], head: 0, timer: undefined }))
  const entry = { due: performance.now() + afterMs, notice, done: false }
  dropEnded(queue)
  queue.entries.push(entry)
  if (queue.timer === undefined) arm(queue, afterMs)
  return entry
}

/** Forgets the ended waits at the front of the queue (in FIFO handoffs, that is every ended wait). */
function dropEnded(queue) {
  const { entries } = queue
  while (queue.head < entries.length && entries[queue.head].done) entries[queue.head++] = undefined
  if (queue.head === entries.length) {
    entries.length = 0
    queue.head = 0
  } else if (queue.head > 1024 && queue.head * 2 > entries.length) {
    entries.splice(0, queue.head)
    queue.head = 0
  }
}

function arm(queue, delayMs) {
  queue.timer = setTimeout(() => fire(queue), Math.max(1, Math.ceil(delayMs)))
  queue.timer.unref()
}

/** Sends the notices now due, then waits for the next wait that has not ended. */
function fire(queue) {
  queue.timer = undefined
  const now = performance.now()
  const { entries } = queue
  while (queue.head < entries.length) {
    const entry = entries[queue.head]
    if (!entry.done && entry.due > now) break
    entries[queue.head++] = undefined
    if (entry.done) continue
    entry.done = true
    try {
      entry.notice()
    } catch (err) {
      // An `onWait` hook that throws must not stop the notices of the other waits.
      process.nextTick(() => {
        throw err
      })
    }
  }
  dropEnded(queue)
  if (entries.length === 0) queues.delete(queue.afterMs)
  else arm(queue, entries[queue.head].due - now)
}

module.exports = { noticeAfter }
