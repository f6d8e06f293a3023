'use strict'

// The Express scenario of the benchmark: POST /resize resizes the body with
// rusque (ENGINE=rusque) or jimp (ENGINE=jimp); GET /health answers at once.
// Runs in its own process so the load generator does not share its event loop.

const express = require('express')

const engine = process.env.ENGINE || 'rusque'
const app = express()
const raw = express.raw({ type: () => true, limit: '30mb' })

let resizeWith
if (engine === 'jimp') {
  const { Jimp } = require('jimp')
  resizeWith = async (buf, width) => {
    const img = await Jimp.read(buf)
    img.resize({ w: width })
    return img.getBuffer('image/jpeg', { quality: 80 })
  }
} else {
  const { resize } = require('../..')
  resizeWith = (buf, width) => resize(buf, { width, format: 'jpeg', quality: 80 })
}

app.post('/resize', raw, async (req, res) => {
  try {
    const out = await resizeWith(req.body, Number(req.query.width) || 720)
    res.type('image/jpeg').send(out)
  } catch (err) {
    res.status(400).json({ code: err.code, message: err.message })
  }
})
app.get('/health', (req, res) => res.json({ ok: true }))

const server = app.listen(0, '127.0.0.1', () => {
  process.send({ port: server.address().port })
})
process.on('message', (m) => { if (m === 'stop') server.close(() => process.exit(0)) })
