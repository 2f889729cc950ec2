'use strict'

// One soak worker: `node soak/worker.js <impl> <id> <sessionDir> <sessions> <ackLog>`. It appends entries to
// random sessions forever, under the lock of its implementation (`native` or `legacy`). Inside each hold
// it checks the fencing witness; after each append has resolved it records an acknowledgement.
//
// The witness, per session: `<session>.inside` is created O_EXCL with our pid on entry and removed on
// exit; `<session>.count` is read, then rewritten +1 after a yield. A marker left by a dead pid is a crash
// leftover (cleared); one left by a live pid means two holders overlapped (recorded in overlaps.log).
//
// A legacy holder's marker also names its sidecar's inode, and every deletion by path a legacy worker
// makes (a stale sidecar, or its own on release) is journaled in legacy-removals.log: the inode it meant
// and the inode the path named. Two legacy waiters can judge the same dead sidecar stale; the later one
// then deletes the earlier one's fresh sidecar, and the holder it robbed later deletes the next one's on
// release (the legacy flaw, docs/design.md). The controller uses the journal to tell such an overlap,
// which involves no code of ours, from one this package caused.

const fs = require('node:fs')
const path = require('node:path')

const [impl, id, dir, sessions, ackLog] = process.argv.slice(2)
const native = require('..')
const { withLegacyLock, pidAlive } = require('../scripts/legacy-lock.js')

const say = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`)
const sessionFile = (n) => path.join(dir, `s${n}.jsonl`)

function enter(file, sidecarIno) {
  const marker = `${file}.inside`
  for (;;) {
    try {
      fs.writeFileSync(marker, `${process.pid} ${id}${sidecarIno ? ` ${sidecarIno}` : ''}`, { flag: 'wx' })
      return
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
      let owner
      try {
        owner = fs.readFileSync(marker, 'utf8')
      } catch (e) {
        if (e.code === 'ENOENT') continue // its holder just left
        throw e
      }
      const [pid, ownerId, ownerSidecarIno] = owner.split(' ')
      if (Number(pid) && pidAlive(Number(pid))) {
        const seen = { worker: id, pid: process.pid, owner: ownerId, ownerPid: Number(pid), ownerSidecarIno }
        fs.appendFileSync(
          path.join(dir, 'overlaps.log'),
          `${JSON.stringify({ ...seen, session: path.basename(file) })}\n`,
        )
        return
      }
      fs.rmSync(marker, { force: true }) // left by a holder that was killed inside
    }
  }
}

async function critical(file, write, { check = () => {}, sidecarIno } = {}) {
  check() // a gateway's writes verify the hold first; so does entering the witnessed section
  enter(file, sidecarIno)
  const countFile = `${file}.count`
  const n = Number(fs.existsSync(countFile) ? fs.readFileSync(countFile, 'utf8') || 0 : 0)
  await new Promise((r) => setImmediate(r))
  write()
  fs.writeFileSync(countFile, String(n + 1))
  fs.rmSync(`${file}.inside`, { force: true })
}

async function appendOne(seq) {
  const file = sessionFile(Math.floor(Math.random() * Number(sessions)))
  const entry = { worker: id, seq, impl, pad: 'p'.repeat(Math.floor(Math.random() * 300)) }
  const opts = { acquireTimeoutMs: 60_000 }
  if (impl === 'native') {
    try {
      await native.withSessionWriteLock(file, opts, (lock) =>
        critical(file, () => lock.append(entry), { check: () => lock.assertHeld() }),
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
      critical(file, () => fs.appendFileSync(file, `${JSON.stringify(entry)}\n`), { sidecarIno: lock.ino }),
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
