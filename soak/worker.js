'use strict'

// One soak worker: `node soak/worker.js <impl> <id> <sessionDir> <sessions> <ackLog>`. It appends entries to
// random sessions forever, under the lock of its implementation (`native` or `legacy`). Inside each hold
// it checks the fencing witness; after each append has resolved it records an acknowledgement.
//
// The witness, per session: `<session>.inside` is created O_EXCL with our pid on entry and removed on
// exit; `<session>.count` is read, then rewritten +1 after a yield. A marker left by a dead pid is a crash
// leftover (cleared); one left by a live pid means two holders overlapped (recorded in overlaps.log).
//
// The marker also names the holder's sidecar (its inode) and entry, and every deletion by path a legacy
// worker makes (a stale sidecar, or its own on release) is journaled in legacy-removals.log: the inode it
// meant and the inode the path named. Two legacy waiters can judge the same dead sidecar stale; the later
// one then deletes the sidecar that appeared meanwhile, and a holder so robbed later deletes the next
// one's on release (the legacy flaw, README "Coexistence guarantees"); a sidecar of ours named a moment
// before can go the same way. The controller uses the journal to tell such an overlap, which no code of
// ours could prevent, from one this package caused.

const fs = require('node:fs')
const path = require('node:path')

const [impl, id, dir, sessions, ackLog] = process.argv.slice(2)
const native = require('..')
const { withLegacyLock, pidAlive } = require('../scripts/legacy-lock.js')

const say = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`)
const sessionFile = (n) => path.join(dir, `s${n}.jsonl`)

/** Creates the marker; `false` when it found another live holder's instead (recorded as an overlap). */
function enter(file, holder) {
  const marker = `${file}.inside`
  for (;;) {
    try {
      fs.writeFileSync(marker, JSON.stringify({ pid: process.pid, ...holder }), { flag: 'wx' })
      return true
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
      let text
      try {
        text = fs.readFileSync(marker, 'utf8')
      } catch (e) {
        if (e.code === 'ENOENT') continue // its holder just left
        throw e
      }
      let owner = {}
      try {
        owner = JSON.parse(text)
      } catch {} // empty: its holder was killed before it wrote it (or is writing it this instant)
      if (owner.pid && pidAlive(owner.pid)) {
        const seen = { worker: id, pid: process.pid, owner }
        fs.appendFileSync(
          path.join(dir, 'overlaps.log'),
          `${JSON.stringify({ ...seen, session: path.basename(file) })}\n`,
        )
        return false
      }
      fs.rmSync(marker, { force: true }) // left by a holder that was killed inside
    }
  }
}

/**
 * The witnessed critical section, with the marker naming who holds, with which sidecar (its inode), for
 * which entry. A hold whose write is refused leaves it too, and takes its marker along; a holder that
 * found another's marker leaves that one to its owner.
 */
async function critical(file, write, { check = () => {}, sidecarIno, seq }) {
  check() // a gateway's writes verify the hold first; so does entering the witnessed section
  const marked = enter(file, { id, impl, sidecarIno: sidecarIno(), seq })
  try {
    const countFile = `${file}.count`
    const n = Number(fs.existsSync(countFile) ? fs.readFileSync(countFile, 'utf8') || 0 : 0)
    await new Promise((r) => setImmediate(r))
    write()
    fs.writeFileSync(countFile, String(n + 1))
  } finally {
    if (marked) fs.rmSync(`${file}.inside`, { force: true })
  }
}

async function appendOne(seq) {
  const file = sessionFile(Math.floor(Math.random() * Number(sessions)))
  const entry = { worker: id, seq, impl, pad: 'p'.repeat(Math.floor(Math.random() * 300)) }
  const opts = { acquireTimeoutMs: 60_000 }
  if (impl === 'native') {
    try {
      await native.withSessionWriteLock(file, opts, (lock) =>
        critical(file, () => lock.append(entry), {
          check: () => lock.assertHeld(),
          sidecarIno: () => fs.lstatSync(lock.lockPath, { throwIfNoEntry: false })?.ino,
          seq,
        }),
      )
    } catch (err) {
      // The legacy race (docs/design.md): a legacy waiter deleted our sidecar; the hold was revoked and nothing
      // was written through it. Not acknowledged; carry on.
      if (err.code !== 'SESSION_WRITE_LOCK_LOST') throw err
      say({ revoked: true })
      return
    }
  } else {
    const onRemoval = (removal) =>
      fs.appendFileSync(
        path.join(dir, 'legacy-removals.log'),
        `${JSON.stringify({ worker: id, session: path.basename(file), ...removal })}\n`,
      )
    await withLegacyLock(file, { ...opts, onRemoval }, (lock) =>
      critical(file, () => fs.appendFileSync(file, `${JSON.stringify(entry)}\n`), { sidecarIno: () => lock.ino, seq }),
    )
  }
  fs.appendFileSync(ackLog, `${path.basename(file)} ${id} ${seq}\n`) // only once the append resolved
}

async function main() {
  for (let seq = 0; ; seq++) {
    await appendOne(seq)
    if (impl === 'native' && seq % 20 === 0) say({ stats: native.sessionLockStats() })
  }
}

main().catch((err) => {
  say({ error: err.code ?? String(err), message: err.message })
  process.exit(1)
})
