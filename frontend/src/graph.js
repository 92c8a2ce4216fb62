// Pure operations on one network of the project document (layers, links, comments). Every function returns a new
// network and never mutates its argument, so the undo history can keep old versions as they are.

export const LAYER_W = 240
export const LAYER_H = 48
export const GRID = 24

const nextId = (items) => items.reduce((m, it) => Math.max(m, it.id + 1), 0)

/** The network's layers and comments share NNC's id space (comments are layers in .sdcproj). */
function nextLayerId(network) {
  return Math.max(nextId(network.layers), nextId(network.comments ?? []))
}

/** A name not used in the network: the type itself, then type_2, type_3... as NNC names new layers. */
export function uniqueName(network, base) {
  const used = new Set(network.layers.map((l) => l.name))
  if (!used.has(base)) return base
  for (let i = 2; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`
}

/** The stored properties of a new layer: every editable property at its catalogue default, in definition order. */
export function defaultProperties(definition) {
  const out = {}
  for (const p of definition.properties) if (p.editable) out[p.name] = p.default
  return out
}

const snap = (v) => Math.round(v / GRID) * GRID

export function addLayer(network, definition, x, y) {
  const layer = {
    id: nextLayerId(network), type: definition.type, name: uniqueName(network, definition.type),
    x: snap(x), y: snap(y), width: LAYER_W, height: LAYER_H, properties: defaultProperties(definition),
  }
  return { network: { ...network, layers: [...network.layers, layer] }, layer }
}

export function addComment(network, x, y, text = 'Comment') {
  const comment = { id: nextLayerId(network), x: snap(x), y: snap(y), width: LAYER_W, height: LAYER_H, text }
  return { ...network, comments: [...(network.comments ?? []), comment] }
}

/**
 * Links an output pin to an input pin. A named connector (pin > 0: T, R, W, b...) takes one link, so a new one
 * replaces the old; the main input (pin 0) may take several (Concatenate, AddN). Self-links and duplicates are refused.
 */
export function connect(network, source, sourcePin, dest, destPin) {
  if (source === dest) return network
  const same = (l) => l.source === source && l.source_pin === sourcePin && l.dest === dest && l.dest_pin === destPin
  if (network.links.some(same)) return network
  const kept = destPin > 0 ? network.links.filter((l) => !(l.dest === dest && l.dest_pin === destPin)) : network.links
  const link = { id: nextId(network.links), source, source_pin: sourcePin, dest, dest_pin: destPin }
  return { ...network, links: [...kept, link] }
}

/** Removes layers (with their links), links and comments by id. */
export function remove(network, { layers = [], links = [], comments = [] }) {
  const gone = new Set(layers)
  const goneLinks = new Set(links)
  const goneComments = new Set(comments)
  return {
    ...network,
    layers: network.layers.filter((l) => !gone.has(l.id)),
    links: network.links.filter((l) => !goneLinks.has(l.id) && !gone.has(l.source) && !gone.has(l.dest)),
    comments: (network.comments ?? []).filter((c) => !goneComments.has(c.id)),
  }
}

export function moveItems(network, positions) {
  const at = (item) => (positions[item.id] ? { ...item, x: snap(positions[item.id].x), y: snap(positions[item.id].y) } : item)
  return { ...network, layers: network.layers.map(at), comments: (network.comments ?? []).map(at) }
}

export function updateLayer(network, id, change) {
  return { ...network, layers: network.layers.map((l) => (l.id === id ? { ...l, ...change } : l)) }
}

export function updateComment(network, id, change) {
  return { ...network, comments: (network.comments ?? []).map((c) => (c.id === id ? { ...c, ...change } : c)) }
}

/** The selected layers and the links among them, as a clipboard. */
export function copyLayers(network, ids) {
  const chosen = new Set(ids)
  return {
    layers: network.layers.filter((l) => chosen.has(l.id)),
    links: network.links.filter((l) => chosen.has(l.source) && chosen.has(l.dest)),
  }
}

/** Pastes a clipboard shifted by (dx, dy) with fresh ids and names; returns the network and the new layer ids. */
export function paste(network, clipboard, dx = GRID * 2, dy = GRID * 2) {
  let out = network
  const idMap = {}
  for (const layer of clipboard.layers) {
    const copy = { ...layer, id: nextLayerId(out), name: uniqueName(out, layer.name.replace(/_\d+$/, '')),
      x: layer.x + dx, y: layer.y + dy, properties: { ...layer.properties } }
    idMap[layer.id] = copy.id
    out = { ...out, layers: [...out.layers, copy] }
  }
  for (const link of clipboard.links) out = connect(out, idMap[link.source], link.source_pin, idMap[link.dest], link.dest_pin)
  return { network: out, ids: Object.values(idMap) }
}

/**
 * Layered layout, top to bottom as NNC draws: a layer's row is the longest path from a source to it, and side
 * branches take further columns. Layers in cycles (not valid networks) keep the row reached so far.
 */
export function autoArrange(network) {
  const row = new Map(network.layers.map((l) => [l.id, 0]))
  const incoming = new Map(network.layers.map((l) => [l.id, 0]))
  for (const link of network.links) if (incoming.has(link.dest)) incoming.set(link.dest, incoming.get(link.dest) + 1)
  const queue = network.layers.filter((l) => incoming.get(l.id) === 0).map((l) => l.id)
  while (queue.length) {
    const id = queue.shift()
    for (const link of network.links) {
      if (link.source !== id || !row.has(link.dest)) continue
      row.set(link.dest, Math.max(row.get(link.dest), row.get(id) + 1))
      incoming.set(link.dest, incoming.get(link.dest) - 1)
      if (incoming.get(link.dest) === 0) queue.push(link.dest)
    }
  }
  const columnsUsed = new Map()
  const order = [...network.layers].sort((a, b) => row.get(a.id) - row.get(b.id) || a.x - b.x || a.id - b.id)
  const placed = {}
  for (const layer of order) {
    const r = row.get(layer.id)
    const column = columnsUsed.get(r) ?? 0
    columnsUsed.set(r, column + 1)
    placed[layer.id] = { x: GRID + column * (LAYER_W + GRID * 2), y: GRID + r * (LAYER_H + GRID) }
  }
  return moveItems(network, placed)
}

/** Undo/redo over immutable snapshots. */
export function history(present) {
  return { past: [], present, future: [] }
}

export function pushHistory(h, next, limit = 200) {
  if (next === h.present) return h
  return { past: [...h.past, h.present].slice(-limit), present: next, future: [] }
}

export function undo(h) {
  if (!h.past.length) return h
  return { past: h.past.slice(0, -1), present: h.past[h.past.length - 1], future: [h.present, ...h.future] }
}

export function redo(h) {
  if (!h.future.length) return h
  return { past: [...h.past, h.present], present: h.future[0], future: h.future.slice(1) }
}

/**
 * How many times each layer runs because of Repeat blocks: {layerId: n} for layers between a RepeatStart and its
 * RepeatEnd (paired by nesting along the links, as .sdcproj leaves RepeatEnd's ID unset); nested blocks multiply.
 * A Times that is not a number (a unit argument) counts as 1.
 */
export function repeatTimes(network) {
  const byId = new Map(network.layers.map((l) => [l.id, l]))
  const next = (id) => network.links.filter((l) => l.source === id).map((l) => l.dest)
  const out = {}
  for (const start of network.layers.filter((l) => l.type === 'RepeatStart')) {
    const times = Number.parseInt(start.properties?.Times, 10) || 1
    const inside = new Set()
    const seen = new Set()
    const stack = next(start.id).map((id) => [id, 0])
    while (stack.length) {
      const [id, depth] = stack.pop()
      const layer = byId.get(id)
      if (!layer || seen.has(`${id}:${depth}`)) continue
      seen.add(`${id}:${depth}`)
      if (layer.type === 'RepeatEnd' && depth === 0) continue
      inside.add(id)
      const nextDepth = depth + (layer.type === 'RepeatStart') - (layer.type === 'RepeatEnd')
      for (const dest of next(id)) stack.push([dest, nextDepth])
    }
    for (const id of inside) out[id] = (out[id] ?? 1) * times
  }
  return out
}
