import { describe, expect, it } from 'vitest'
import { keyProperties, validateProperty } from './props.js'
import { addPoint } from './jobs.js'
import { compact, duration, statisticValue } from './format.js'

const p = (type, choices) => ({ name: 'X', type, choices, editable: true })

describe('validateProperty', () => {
  it('accepts valid values of every type', () => {
    const ok = [['PInt', '3'], ['UInt', '0'], ['Int', '-2'], ['PIntArray', '3, 3'], ['UIntArray', '0,1'],
      ['IntArray', '-1,2'], ['PIntArrays', '2,2;3,3'], ['Float', '1e-3'], ['Float', '-.5'], ['FloatArray', '0.1,2'],
      ['Boolean', 'True'], ['Text', 'anything'], ['PInt', '*Macro']]
    for (const [type, value] of ok) expect(validateProperty(p(type), value), `${type} ${value}`).toBeNull()
    expect(validateProperty(p('Option', ['a', 'b']), 'b')).toBeNull()
  })

  it('names the expectation and the received value on invalid input', () => {
    const bad = [['PInt', '0'], ['PInt', '1.5'], ['UInt', '-1'], ['Int', 'x'], ['PIntArray', '3,0'],
      ['PIntArray', '3,,3'], ['Float', '1e'], ['FloatArray', '1,a'], ['Boolean', 'true'], ['PIntArrays', '2;x']]
    for (const [type, value] of bad) {
      const error = validateProperty(p(type), value)
      expect(error, `${type} ${value}`).toContain(`"${value}"`)
    }
    expect(validateProperty(p('Option', ['a', 'b']), 'c')).toContain('one of a, b')
  })

  it('lets unit networks use argument names', () => {
    expect(validateProperty(p('PInt'), 'Units')).not.toBeNull()
    expect(validateProperty(p('PInt'), 'Units', true)).toBeNull()
    expect(validateProperty(p('PInt'), '-4', true)).not.toBeNull()
  })

  it('random integers: validity matches the sign rules', () => {
    for (let i = 0; i < 200; i++) {
      const v = Math.floor(Math.random() * 41) - 20
      expect(validateProperty(p('PInt'), String(v)) === null).toBe(v >= 1)
      expect(validateProperty(p('UInt'), String(v)) === null).toBe(v >= 0)
      expect(validateProperty(p('Int'), String(v))).toBeNull()
    }
  })
})

describe('helpers', () => {
  it('shows sizes, not parameter plumbing, on a layer box', () => {
    const layer = { properties: { OutMaps: '16', 'W.File': '', ParameterScope: '*Name', KernelShape: '3,3', Pad: '1' } }
    expect(keyProperties(layer)).toEqual([['OutMaps', '16'], ['KernelShape', '3,3']])
  })

  it('merges replayed points by epoch', () => {
    let s = {}
    for (const [e, v] of [[2, 0.5], [1, 0.9], [2, 0.4]]) s = addPoint(s, 'cost', e, v)
    expect(s.cost).toEqual([[1, 0.9], [2, 0.4]])
  })

  it('formats numbers, durations and statistics', () => {
    expect([compact(999), compact(12345), compact(2.5e6), compact(3e9), compact(null)]).toEqual(['999', '12.3k', '2.50M', '3.00G', '-'])
    expect([duration(5), duration(65), duration(3725), duration(null)]).toEqual(['0:05', '1:05', '1:02:05', '-'])
    const r = { output_shape: [16, 22, 22], statistics: { CostParameter: 800 } }
    expect(statisticValue(r, 'Output')).toBe(16 * 22 * 22)
    expect(statisticValue(r, 'CostParameter')).toBe(800)
    expect(statisticValue(null, 'Output')).toBeNull()
  })
})
