'use strict'

// Test images live in the shared fixtures checkout next to this repository;
// RUSQUE_FIXTURES points elsewhere (a CI cache, another checkout).

const fs = require('node:fs')
const path = require('node:path')

const DEFAULT_DIR = path.join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'images')

function fixturesDir () {
  return process.env.RUSQUE_FIXTURES ? path.resolve(process.env.RUSQUE_FIXTURES) : DEFAULT_DIR
}

function readFixture (name) {
  const file = path.join(fixturesDir(), name)
  try {
    return fs.readFileSync(file)
  } catch (err) {
    throw new Error(`cannot read fixture ${file} (${err.code}): check out the shared fixtures next to this repository or set RUSQUE_FIXTURES to the images directory`)
  }
}

module.exports = { fixturesDir, readFixture }
