'use strict'

// When each waiting call is due its one wait notice (`noticeAfterMs`). One timer per thread serves every
// wait, instead of a timer armed and cleared per wait: clearing a wait's timer came right between the
// kernel's grant and the caller's callback, the slowest step left there. A wait that ends marks its entry
// ended (`endNotice`); the timer skips ended entries when it fires.

/** A queue of waits per `noticeAfterMs` value: waits that share one are due in the order they began. */
const queues = new Map()

/**
 * Calls `notice()` once `afterMs` have passed, unless `endNotice` is called with the returned entry
 * first. The timer does not keep the process alive: a wait does that itself.
 */
function noticeAfter(afterMs, notice) {
  let queue = queues.get(afterMs)
  if (queue === undefined) {
    queue = { afterMs, entries: [], head: 0, ended: 0, timer: undefined }
    queues.set(afterMs, queue)
  }
  const entry = { due: performance.now() + afterMs, notice, queue }
  dropEnded(queue)
  queue.entries.push(entry)
  if (queue.timer === undefined) arm(queue, afterMs)
  return entry
}

/** The wait of `entry` is over: no notice for it. What the notice would have used is let go now. */
function endNotice(entry) {
  if (entry.notice === undefined) return
  entry.notice = undefined
  const { queue } = entry
  queue.ended += 1
  // Waits behind one that lasts (its notice is due only after `afterMs`) end out of order: past a
  // thousand of them, and once they are most of the queue, they go.
  if (queue.ended > 1024 && queue.ended * 2 > queue.entries.length - queue.head) {
    queue.entries = queue.entries.slice(queue.head).filter((e) => e.notice !== undefined)
    queue.head = 0
    queue.ended = 0
  }
}

/** Forgets the ended waits at the front of the queue (in FIFO handoffs, that is every ended wait). */
function dropEnded(queue) {
  const { entries } = queue
  while (queue.head < entries.length && entries[queue.head].notice === undefined) {
    entries[queue.head++] = undefined
    queue.ended -= 1
  }
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
  dropEnded(queue)
  // `queue.entries` read afresh each time: a notice's hook may end waits, which may compact it.
  while (queue.head < queue.entries.length && queue.entries[queue.head].due <= now) {
    const entry = queue.entries[queue.head]
    queue.entries[queue.head++] = undefined
    const { notice } = entry
    if (notice === undefined) {
      queue.ended -= 1
      continue
    }
    entry.notice = undefined // sent: its wait's end has nothing left to do
    try {
      notice()
    } catch (err) {
      // An `onWait` hook that throws must not stop the notices of the other waits.
      process.nextTick(() => {
        throw err
      })
    }
  }
  dropEnded(queue)
  if (queue.head === queue.entries.length) queues.delete(queue.afterMs)
  else arm(queue, queue.entries[queue.head].due - now)
}

module.exports = { noticeAfter, endNotice }
