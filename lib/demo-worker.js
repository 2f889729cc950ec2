'use strict'

// One gateway-like process of the demo. Each turn appends the user's message, calls the "model" with no
// lock held, and appends the reply: the lock is held for the writes only.
// argv: SESSION_FILE WORKER_ID TURNS ROLE   (ROLE: normal | crash | failing)
//   crash    in its third turn it stops inside a hold and waits to be SIGKILLed
//   failing  its third "model call" throws; the turn records an error entry under the same lock

const { appendSessionEntries, withSessionWriteLock } = require('..')

const [file, id, turns, role] = process.argv.slice(2)
const say = (msg) => process.stdout.write(`${JSON.stringify({ ...msg, worker: id, t: Date.now() })}\n`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function callModel(turn) {
  await sleep(5 + Math.random() * 10) // the slow part, outside the lock
  if (role === 'failing' && turn === 2) throw Object.assign(new Error('Model API quota exceeded'), { code: 'QUOTA' })
  return `reply ${turn}`
}

async function turn(n) {
  const asked = Date.now()
  await withSessionWriteLock(file, { acquireTimeoutMs: 30_000 }, async (lock) => {
    say({ type: 'acquired', waitedMs: Date.now() - asked })
    if (role === 'crash' && n === 2) {
      say({ type: 'crashing' })
      await new Promise(() => {}) // the controller SIGKILLs us here, lock held
    }
    lock.append({ worker: id, turn: n, role: 'user', text: `message ${n}` })
  })
  say({ type: 'ack', turn: n, role: 'user' })
  let reply
  try {
    reply = await callModel(n)
  } catch (err) {
    await appendSessionEntries(file, { worker: id, turn: n, role: 'error', text: err.message })
    say({ type: 'ack', turn: n, role: 'error' })
    return
  }
  const asked2 = Date.now()
  await appendSessionEntries(file, { worker: id, turn: n, role: 'assistant', text: reply })
  say({ type: 'acquired', waitedMs: Date.now() - asked2 })
  say({ type: 'ack', turn: n, role: 'assistant' })
}

async function main() {
  for (let n = 0; n < Number(turns); n++) await turn(n)
}

main().catch((err) => {
  say({ type: 'error', code: err.code, message: err.message })
  process.exitCode = 1
})
