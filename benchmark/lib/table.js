'use strict'

// Markdown tables with padded columns, readable in a terminal and in a PR.

/**
 * @param {{ key: string, title: string, align?: 'left' | 'right' }[]} columns
 * @param {object[]} rows  cells are strings or numbers; missing cells print as '—'
 */
function markdownTable (columns, rows) {
  const cell = (row, c) => {
    const v = row[c.key]
    return v === undefined || v === null || v === '' ? '—' : String(v)
  }
  const widths = columns.map((c) => Math.max(c.title.length, 3, ...rows.map((r) => cell(r, c).length)))
  const pad = (s, i) => (columns[i].align === 'right' ? s.padStart(widths[i]) : s.padEnd(widths[i]))
  const line = (cells) => `| ${cells.map(pad).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (columns[i].align === 'right' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`
  return [line(columns.map((c) => c.title)), rule, ...rows.map((r) => line(columns.map((c) => cell(r, c))))].join('\n')
}

/** Columns derived from the rows' keys, for suites that return plain rows. */
function columnsFromRows (rows) {
  const keys = []
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k)
  return keys.map((key) => ({ key, title: key }))
}

module.exports = { markdownTable, columnsFromRows }
