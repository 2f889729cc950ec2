'use strict'

// JSONL encoding and decoding of transcript entries. Serialization happens before the lock is taken
// (or the disk touched), so an entry that cannot be serialized costs nothing and writes nothing.

const fs = require('node:fs')
const {
  constants: { MAX_STRING_LENGTH },
} = require('node:buffer')

const {
  SessionTranscriptCorruptError,
  SessionTranscriptTooLargeError,
  SessionWriteLockUnsafePathError,
} = require('./errors')

/** The most one append may write: larger batches are refused before anything is locked. */
const MAX_APPEND_BYTES = 128 * 2 ** 20

function tooLarge(detail) {
  const err = new RangeError(
    `entries are too large to append in one write: ${detail} (at most ${MAX_APPEND_BYTES} bytes)`,
  )
  err.code = 'ERR_OUT_OF_RANGE'
  return err
}

/** Encodes one entry or an array of entries as JSONL: one JSON document per line, each ending in `\n`. */
function encodeEntries(entries) {
  const list = Array.isArray(entries) ? entries : [entries]
  let text = ''
  for (let i = 0; i < list.length; i++) {
    let json
    try {
      json = JSON.stringify(list[i])
    } catch (cause) {
      if (cause instanceof RangeError) throw tooLarge(`entry ${i}: ${cause.message}`)
      const err = new TypeError(`entry ${i} cannot be serialized as JSON: ${cause.message}`, { cause })
      err.code = 'ERR_INVALID_ARG_VALUE'
      throw err
    }
    if (json === undefined) {
      const err = new TypeError(`entry ${i} cannot be serialized as JSON (it is ${typeof list[i]})`)
      err.code = 'ERR_INVALID_ARG_VALUE'
      throw err
    }
    if (text.length + json.length >= MAX_APPEND_BYTES) throw tooLarge(`entry ${i} brings the batch past the limit`)
    text += `${json}\n`
  }
  const data = Buffer.from(text, 'utf8')
  if (data.length > MAX_APPEND_BYTES) throw tooLarge(`${data.length} bytes`)
  return { data, count: list.length }
}

function unsafe(path, what) {
  return new SessionWriteLockUnsafePathError(`refusing to use ${path}: the transcript is ${what}`, { path })
}

/** The transcript's text, judged on the opened descriptor: a regular file with one link, small enough. */
function readTranscript(path) {
  let fd
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0))
  } catch (err) {
    if (err.code === 'ENOENT') return ''
    if (err.code === 'ELOOP') throw unsafe(path, 'a symbolic link')
    throw err
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) throw unsafe(path, 'not a regular file')
    if (st.nlink > 1) throw unsafe(path, 'a file with several hard links')
    if (st.size > MAX_STRING_LENGTH) throw new SessionTranscriptTooLargeError(path, st.size)
    return fs.readFileSync(fd, 'utf8')
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Reads and parses a transcript. An unterminated last line (a torn write) is skipped; an invalid line
 * anywhere else is an error naming its line number. A missing transcript has no entries.
 */
function readEntries(path) {
  const text = readTranscript(path)
  const lines = text.split('\n')
  lines.pop() // '' after the last newline, or an unterminated fragment
  const entries = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') continue
    try {
      entries.push(JSON.parse(lines[i]))
    } catch (cause) {
      throw new SessionTranscriptCorruptError(path, i + 1, cause)
    }
  }
  return entries
}

module.exports = { encodeEntries, readEntries }
