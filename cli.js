#!/usr/bin/env node
'use strict'

// session-write-lock command line.

const USAGE = `Usage: session-write-lock <command>

Commands:
  doctor      Find sidecars that block sessions, and remove stale ones safely
              (--fix). See \`session-write-lock doctor --help\`.
  demo        Several processes write one session; one is SIGKILLed while it holds
              the lock. Ends with a check that nothing was lost or waited for.
  help        Show this text.
`

async function main(argv) {
  const [command] = argv
  switch (command) {
    case 'doctor':
      return require('./lib/doctor').doctor(argv.slice(1))
    case 'demo':
      return (await require('./lib/demo').demo()) ? 0 : 1
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(USAGE)
      return command === undefined ? 2 : 0
    default:
      process.stderr.write(`session-write-lock: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    process.stderr.write(`session-write-lock: ${err?.stack ?? err}\n`)
    process.exitCode = 1
  },
)
