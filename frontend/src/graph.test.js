import { describe, expect, it } from 'vitest'
import * as G from './graph.js'

const affine = { type: 'Affine', properties: [
  { name: 'OutShape', type: 'PIntArray', default: '100', editable: true },
  { name: 'BaseAxis', type: 'UInt', default: '0', editable: false },
  { name: 'WithBias', type: 'Boolean', default: 'True', editable: true }], inputs: ['x', 'W', 'b'], outputs: ['y'] }
const empty = () => ({ name: 'Main', layers: [], links: [], comments: [] })

// A random chain of n layers (ids shuffled), linked first to last, each at a random position.
function randomChain(n, seed) {
  let s = seed
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const ids = Array.from({ length: n }, (_, i) => i * 3 + 1).sort(() => rand() - 0.5)
  const layers = ids.map((id) => ({ id, type: 'ReLU', name: `L${id}`, x: Math.round(rand() * 900), y: Math.round(rand() * 900),
    width: 240, height: 48, properties: {} }))
  const links = ids.slice(1).map((id, i) => ({ id: i, source: ids[i], source_pin: 0, dest: id, dest_pin: 0 }))
  return { network: { name: 'Main', layers, links, comments: [] }, order: ids }
}

describe('graph', () => {
  it('adds layers with NNC names, editable defaults and snapped positions, never mutating the input', () => {
    const n0 = empty()
    const { network: n1, layer: a } = G.addLayer(n0, affine, 13, 37)
    const { network: n2, layer: b } = G.addLayer(n1, affine, 100, 100)
    expect(n0.layers).toHaveLength(0)
    expect([a.name, b.name]).toEqual(['Affine', 'Affine_2'])
    expect(a.properties).toEqual({ OutShape: '100', WithBias: 'True' })
    expect([a.x, a.y]).toEqual([24, 48])
    expect(b.id).toBe(a.id + 1)
    expect(n2.layers).toHaveLength(2)
  })

  it('shares the id space of layers and comments', () => {
    const withComment = G.addComment(empty(), 0, 0, 'note')
    const { layer } = G.addLayer(withComment, affine, 0, 0)
    expect(layer.id).toBe(withComment.comments[0].id + 1)
  })

  it('connects once, replaces a named connector and refuses self-links', () => {
    let n = empty()
    for (let i = 0; i < 3; i++) n = G.addLayer(n, affine, 0, i * 72).network
    n = G.connect(n, 0, 0, 2, 0)
    n = G.connect(n, 0, 0, 2, 0)
    n = G.connect(n, 1, 0, 2, 0)
    expect(n.links.filter((l) => l.dest_pin === 0)).toHaveLength(2)
    n = G.connect(n, 0, 0, 2, 1)
    n = G.connect(n, 1, 0, 2, 1)
    expect(n.links.filter((l) => l.dest_pin === 1).map((l) => l.source)).toEqual([1])
    expect(G.connect(n, 1, 0, 1, 0)).toBe(n)
  })

  it('removes layers with their links', () => {
    const { network } = randomChain(6, 7)
    const middle = network.layers[2].id
    const out = G.remove(network, { layers: [middle] })
    expect(out.layers.map((l) => l.id)).not.toContain(middle)
    expect(out.links.every((l) => l.source !== middle && l.dest !== middle)).toBe(true)
    expect(out.links).toHaveLength(network.links.length - network.links.filter((l) => l.source === middle || l.dest === middle).length)
  })

  it('pastes copies with fresh ids and names and their inner links only', () => {
    const { network, order } = randomChain(5, 3)
    const clip = G.copyLayers(network, order.slice(1, 3))
    expect(clip.links).toHaveLength(1)
    const { network: out, ids } = G.paste(network, clip)
    expect(ids).toHaveLength(2)
    expect(new Set(out.layers.map((l) => l.id)).size).toBe(7)
    expect(new Set(out.layers.map((l) => l.name)).size).toBe(7)
    const pasted = out.links.filter((l) => ids.includes(l.source))
    expect(pasted).toHaveLength(1)
    expect(ids).toContain(pasted[0].dest)
  })

  it('arranges a shuffled chain into one column in link order', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { network, order } = randomChain(8, seed)
      const out = G.autoArrange(network)
      const byId = Object.fromEntries(out.layers.map((l) => [l.id, l]))
      order.forEach((id, row) => {
        expect(byId[id].x).toBe(G.GRID)
        expect(byId[id].y).toBe(G.GRID + row * (G.LAYER_H + G.GRID))
      })
    }
  })

  it('puts parallel branches side by side on the same row', () => {
    let n = empty()
    for (let i = 0; i < 4; i++) n = G.addLayer(n, affine, 500, 500).network
    n = G.connect(G.connect(G.connect(G.connect(n, 0, 0, 1, 0), 0, 0, 2, 0), 1, 0, 3, 0), 2, 0, 3, 1)
    const ys = G.autoArrange(n).layers.map((l) => l.y)
    const xs = G.autoArrange(n).layers.map((l) => l.x)
    expect(ys[1]).toBe(ys[2])
    expect(xs[1]).not.toBe(xs[2])
    expect(ys[3]).toBeGreaterThan(ys[1])
  })

  it('undoes and redoes snapshots', () => {
    let h = G.history('a')
    h = G.pushHistory(h, 'b')
    h = G.pushHistory(h, 'c')
    h = G.undo(G.undo(h))
    expect(h.present).toBe('a')
    h = G.redo(h)
    expect(h.present).toBe('b')
    h = G.pushHistory(h, 'd')
    expect(h.future).toEqual([])
    expect(G.redo(h)).toBe(h)
    expect(G.undo(G.history('x')).present).toBe('x')
  })
})

describe('repeatTimes', () => {
  it('counts nested blocks, pairing RepeatEnd by nesting', () => {
    const types = ['Input', 'RepeatStart', 'A', 'RepeatStart', 'B', 'RepeatEnd', 'C', 'RepeatEnd', 'D']
    const times = { 1: '3', 3: '2' }
    const layers = types.map((type, id) => ({ id, type, name: `${type}${id}`, properties: times[id] ? { Times: times[id] } : {} }))
    const links = types.slice(1).map((_, i) => ({ id: i, source: i, source_pin: 0, dest: i + 1, dest_pin: 0 }))
    expect(G.repeatTimes({ layers, links })).toEqual({ 2: 3, 3: 3, 4: 6, 5: 3, 6: 3 })
  })

  it('follows branches inside a block and treats argument names as 1', () => {
    const layers = ['RepeatStart', 'A', 'B', 'Add2', 'RepeatEnd', 'Out'].map((type, id) => ({ id, type, name: type,
      properties: id === 0 ? { Times: 'N' } : {} }))
    const link = (id, source, dest) => ({ id, source, source_pin: 0, dest, dest_pin: 0 })
    const network = { layers, links: [link(0, 0, 1), link(1, 0, 2), link(2, 1, 3), link(3, 2, 3), link(4, 3, 4), link(5, 4, 5)] }
    expect(G.repeatTimes(network)).toEqual({ 1: 1, 2: 1, 3: 1 })
    network.layers[0].properties.Times = '4'
    expect(G.repeatTimes(network)).toEqual({ 1: 4, 2: 4, 3: 4 })
  })
})
