'use strict'

// One gateway-like process of the demo: takes turns appending to a shared transcript under the lock.
// argv: SESSION_FILE WORKER_ID TURNS [crash]
// With "crash", it stops inside its third hold and waits there to be SIGKILLed.

const fs = require('node:fs')
const { withSessionWriteLock } = require('..')

const [file, id, turns, crash] = process.argv.slice(2)
const say = (msg) => process.stdout.write(`${JSON.stringify({ ...msg, worker: id, t: Date.now() })}\n`)

async function main() {
  for (let turn = 0; turn < Number(turns); turn++) {
    const asked = Date.now()
    await withSessionWriteLock(file, { acquireTimeoutMs: 30_000 }, async () => {
      say({ type: 'acquired', waitedMs: Date.now() - asked })
      if (crash && turn === 2) {
        say({ type: 'crashing' })
        await new Promise(() => {}) // the controller SIGKILLs us here, lock held
      }
      fs.appendFileSync(file, `${JSON.stringify({ worker: id, turn, at: new Date().toISOString() })}\n`)
      await new Promise((r) => setTimeout(r, 2)) // a short critical section, as a real append is
    })
    say({ type: 'ack', turn })
  }
}

main().catch((err) => {
  say({ type: 'error', code: err.code, message: err.message })
  process.exitCode = 1
})
