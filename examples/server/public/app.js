'use strict'

const $ = (id) => document.getElementById(id)
let image = null // the chosen File

function kb (n) { return `${(n / 1024).toFixed(1)} KB` }

function choose (file) {
  if (!file) return
  image = file
  const url = URL.createObjectURL(file)
  const original = $('original')
  original.onload = () => {
    $('original-info').textContent = `original: ${original.naturalWidth}×${original.naturalHeight}, ${kb(file.size)}`
  }
  original.src = url
  $('drop-text').textContent = file.name
  $('resize').disabled = false
  $('stress').disabled = false
  doResize()
}

// The result shown is always the answer to the latest request: a failed
// request clears the previous image, so an error never sits beside it.
function clearResult () {
  const result = $('result')
  delete result.dataset.ready
  result.onload = null
  if (result.src) URL.revokeObjectURL(result.src)
  result.removeAttribute('src')
}

let resizeSeq = 0
async function doResize () {
  if (!image) return
  const seq = ++resizeSeq
  const q = new URLSearchParams({ format: $('format').value })
  if ($('width').value) q.set('width', $('width').value)
  if ($('height').value) q.set('height', $('height').value)
  clearResult()
  $('result-info').textContent = 'resizing…'
  let res
  try {
    res = await fetch(`/api/resize?${q}`, { method: 'POST', body: image })
  } catch (err) {
    if (seq === resizeSeq) $('result-info').textContent = `error: ${err.message}`
    return
  }
  if (seq !== resizeSeq) return // a newer request owns the result now
  if (!res.ok) {
    const err = await res.json().catch(() => ({}))
    if (seq !== resizeSeq) return
    $('result-info').textContent = `error ${res.status}: ${err.code || ''} ${err.message || ''}`
    return
  }
  const blob = await res.blob()
  if (seq !== resizeSeq) return
  const result = $('result')
  result.onload = () => {
    $('result-info').textContent = `resized: ${result.naturalWidth}×${result.naturalHeight} ${$('format').value}, ${kb(blob.size)} in ${res.headers.get('x-ms')} ms`
    result.dataset.ready = '1'
  }
  result.src = URL.createObjectURL(blob)
}

// After a stress request, the server's count of stress resizes still in
// flight (from the event stream) replaces the request's answer, down to 0.
let stressStarted = false
async function stress () {
  if (!image) return
  const count = Number($('count').value) || 50
  $('stress-info').textContent = `queueing ${count}…`
  let res, body
  try {
    res = await fetch(`/api/stress?count=${count}`, { method: 'POST', body: image })
    body = await res.json()
  } catch (err) {
    $('stress-info').textContent = `error: ${err.message}`
    return
  }
  if (res.ok) {
    stressStarted = true
    $('stress-info').textContent = `${body.queued} queued${body.refused ? `, ${body.refused} refused` : ''}`
  } else {
    $('stress-info').textContent = `error ${res.status}: ${body.message}`
  }
}

// Live panel from the server's event stream.
const history = []
function draw () {
  const c = $('chart')
  const g = c.getContext('2d')
  g.clearRect(0, 0, c.width, c.height)
  const maxDepth = Math.max(10, ...history.map((h) => h.waiting + h.running))
  const line = (color, value, max) => {
    g.strokeStyle = color
    g.lineWidth = 2
    g.beginPath()
    history.forEach((h, i) => {
      const x = (i / 239) * c.width
      const y = c.height - 4 - (Math.min(value(h), max) / max) * (c.height - 8)
      if (i === 0) g.moveTo(x, y)
      else g.lineTo(x, y)
    })
    g.stroke()
  }
  line('#2a7bd5', (h) => h.waiting + h.running, maxDepth)
  line('#d5632a', (h) => h.lag.max, 50)
}

const events = new EventSource('/api/events')
events.onmessage = (e) => {
  const s = JSON.parse(e.data)
  $('lag-p99').textContent = s.lag.p99.toFixed(1)
  $('lag-max').textContent = s.lag.max.toFixed(1)
  $('waiting').textContent = s.waiting
  $('running').textContent = s.running
  $('throughput').textContent = s.throughput.toFixed(0)
  $('completed').textContent = s.completed
  $('threads').textContent = s.pool.threads
  $('pool-queued').textContent = s.pool.queued
  $('pool-running').textContent = s.pool.running
  $('pool-completed').textContent = s.pool.completed
  $('pool-failed').textContent = s.pool.failed
  $('pool-utilization').textContent = (100 * s.pool.utilization).toFixed(0)
  $('pool-p99').textContent = s.pool.runTime.p99.toFixed(1)
  $('pool-memory').textContent = (s.pool.memory.reserved / 1048576).toFixed(0)
  if (stressStarted) $('stress-info').textContent = `${s.stress} queued`
  history.push(s)
  if (history.length > 240) history.shift()
  draw()
}

$('file').addEventListener('change', (e) => choose(e.target.files[0]))
$('resize').addEventListener('click', doResize)
$('stress').addEventListener('click', stress)
const drop = $('drop')
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over') })
drop.addEventListener('dragleave', () => drop.classList.remove('over'))
drop.addEventListener('drop', (e) => {
  e.preventDefault()
  drop.classList.remove('over')
  choose(e.dataTransfer.files[0])
})
