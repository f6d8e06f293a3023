// ESM usage: named imports from 'rusque'.
//   node examples/esm/thumbnail.mjs photo.jpg [width] > thumb.webp
import { readFile } from 'node:fs/promises'
import { resize, metadata } from 'rusque'

const [file, width = '320'] = process.argv.slice(2)
if (!file) {
  console.error('usage: node thumbnail.mjs IMAGE [WIDTH] > out.webp')
  process.exit(2)
}
const out = await resize(await readFile(file), { width: Number(width), format: 'webp' })
const { format, width: w, height: h } = await metadata(out)
console.error(`${format} ${w}x${h}, ${out.length} bytes`)
process.stdout.write(out)
