'use strict'

// node-resque's plugin protocol: each plugin is a class constructed with
// (worker, func, queue, jobDefinition, args, options) whose beforePerform /
// afterPerform / beforeEnqueue / afterEnqueue hooks may return false to stop.
// Plugins given by name ('Retry', 'JobLock', ...) come from the node-resque
// package when it is installed.
//
// A native() job whose plugins the Rust loop runs itself (one of node-resque's
// own, by name or by the class; Rust decides which, in
// crates/resque/src/plugins.rs) keeps its worker in the Rust loop:
// nativePlugins() below hands their names and options to Rust, which parses
// them. Any other plugin (a custom Plugin subclass, a subclass of a standard
// one, or options holding a function, such as a lock's `key`, but Noop's
// logger, which JS calls for the Rust loop) runs here, in the JS loop.

const binding = require('../load').load()
const { toJson } = require('../args')
const { RusqueError, invalidArg, fromNative, codes } = require('../errors')

const NATIVE = new Set(binding.nativePlugins())

const names = new WeakMap()

function resolvePlugin (ref) {
  if (typeof ref === 'function') return ref
  if (typeof ref === 'string') {
    let Plugins
    try {
      Plugins = require('node-resque').Plugins
    } catch (err) {
      throw new RusqueError(codes.ERR_PEER_MISSING, `plugin "${ref}" is given by name, but node-resque is not installed: run \`npm install node-resque@^9\` or pass the plugin class instead`, { cause: err })
    }
    const P = Plugins && Plugins[ref]
    if (typeof P !== 'function') throw invalidArg(`no plugin named "${ref}" in node-resque's Plugins`)
    return P
  }
  throw invalidArg('Plugin must be the constructor name or an object')
}

// A plugin's name (the key of its pluginOptions) is the `name` its instances
// report, which is normally the class name.
function pluginName (P, self, func, queue, definition, args) {
  let name = names.get(P)
  if (name === undefined) {
    name = new P(self, func, queue, definition, args, {}).name
    names.set(P, name)
  }
  return name
}

/** Runs one hook of every plugin of a job in order; false if one of them said stop. */
async function runPlugins (self, type, func, queue, definition, args) {
  const plugins = definition && definition.plugins
  if (!plugins || plugins.length === 0) return true
  for (let i = 0; i < plugins.length; i++) {
    const P = resolvePlugin(plugins[i])
    const name = pluginName(P, self, func, queue, definition, args)
    const all = definition.pluginOptions
    if (all !== undefined && all !== null && typeof all !== 'object') {
      throw invalidArg(`pluginOptions must be an object of options by plugin name, got ${typeof all}`)
    }
    const options = (all && all[name]) || {}
    if (typeof options !== 'object') throw invalidArg(`pluginOptions.${name} must be an object of that plugin's options, got ${typeof options}`)
    const plugin = new P(self, func, queue, definition, args, options)
    if (typeof plugin[type] !== 'function') continue
    if ((await plugin[type]()) === false) return false
  }
  return true
}

/** The standard plugin's name if `ref` is one the Rust loop runs, else null. */
function nativeName (ref) {
  if (typeof ref === 'string') return NATIVE.has(ref) ? ref : null
  if (typeof ref !== 'function') return null
  let Plugins
  try {
    Plugins = require('node-resque').Plugins
  } catch {
    return null
  }
  for (const name of NATIVE) if (Plugins && Plugins[name] === ref) return name
  return null
}

/**
 * A job definition's plugins for the Rust loop, as JSON `[[name, options], ...]`
 * (parsed and checked in Rust: bad options of a plugin it runs throw
 * ERR_INVALID_ARG), '' when it has none, or null when they must run in the
 * JS loop.
 */
function nativePlugins (definition) {
  const plugins = definition && definition.plugins
  if (!plugins || plugins.length === 0) return ''
  const all = definition.pluginOptions
  const out = []
  for (const ref of plugins) {
    const name = nativeName(ref)
    if (name === null) return null
    const options = (all && typeof all === 'object' && all[name]) || null
    if (name !== 'Noop' && options && typeof options === 'object' && Object.values(options).some((v) => typeof v === 'function')) return null
    out.push([name, options])
  }
  const json = toJson(out)
  let native
  try {
    native = binding.checkNativePlugins(json)
  } catch (err) {
    throw fromNative(err)
  }
  return native ? json : null
}

/**
 * What node-resque's Noop does with the error of a job it swallows, for the
 * Rust loop's `noop` event: the job's `pluginOptions.Noop.logger(error)`, or
 * console.log.
 */
function noopLog (definition, error) {
  const options = definition && definition.pluginOptions && definition.pluginOptions.Noop
  if (options && typeof options.logger === 'function') options.logger(error)
  else console.log(error)
}

module.exports = { runPlugins, resolvePlugin, nativePlugins, noopLog }
