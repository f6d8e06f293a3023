'use strict'

// Benchmark images are the ones this repository carries (fixtures/images);
// RUSQUE_FIXTURES points elsewhere (a larger set holding the same names).

const fs = require('node:fs')
const path = require('node:path')

const DEFAULT_DIR = path.join(__dirname, '..', '..', 'fixtures', 'images')

function fixturesDir () {
  return process.env.RUSQUE_FIXTURES ? path.resolve(process.env.RUSQUE_FIXTURES) : DEFAULT_DIR
}

function readFixture (name) {
  const file = path.join(fixturesDir(), name)
  try {
    return fs.readFileSync(file)
  } catch (err) {
    throw new Error(`cannot read fixture ${file} (${err.code}): set RUSQUE_FIXTURES to a folder holding it, or restore fixtures/images from git`)
  }
}

module.exports = { fixturesDir, readFixture }
