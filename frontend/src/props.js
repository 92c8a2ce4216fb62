// Typed validation of layer property values (strings, as .sdcproj stores them) by their NNC property type.

const INT = /^[+-]?\d+$/
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

function integers(value, min, what) {
  const parts = value.split(',').map((s) => s.trim())
  if (parts.some((p) => !INT.test(p))) return `expected ${what} separated by commas, e.g. 3,3; got "${value}"`
  if (parts.some((p) => Number(p) < min)) return `expected every value >= ${min}; got "${value}"`
  return null
}

const checks = {
  PInt: (v) => (INT.test(v) && Number(v) >= 1 ? null : `expected a positive integer; got "${v}"`),
  UInt: (v) => (INT.test(v) && Number(v) >= 0 ? null : `expected an integer >= 0; got "${v}"`),
  Int: (v) => (INT.test(v) ? null : `expected an integer; got "${v}"`),
  PIntArray: (v) => integers(v, 1, 'positive integers'),
  UIntArray: (v) => integers(v, 0, 'integers >= 0'),
  IntArray: (v) => integers(v, -Infinity, 'integers'),
  PIntArrays: (v) => (v.split(';').every((g) => !integers(g, 1, 'x')) ? null
    : `expected groups of positive integers separated by ';', e.g. 2,2;3,3; got "${v}"`),
  Float: (v) => (FLOAT.test(v) ? null : `expected a number, e.g. 0.5 or 1e-3; got "${v}"`),
  FloatArray: (v) => (v.split(',').every((p) => FLOAT.test(p.trim())) ? null
    : `expected numbers separated by commas; got "${v}"`),
  Boolean: (v) => (v === 'True' || v === 'False' ? null : `expected True or False; got "${v}"`),
}

/**
 * Why `value` is not valid for `property` (a catalogue entry), or null when it is. NNC macros (`*Name`,
 * `*ConvolutionPaddingSize`...) are accepted, and so are expressions over unit arguments when the network declares
 * Argument layers (`allowExpressions`); the analysis reports what they evaluate to.
 */
export function validateProperty(property, value, allowExpressions = false) {
  if (typeof value !== 'string') return `expected text; got ${typeof value}`
  if (value.startsWith('*')) return null
  if (property.type === 'Option') {
    return property.choices?.includes(value) ? null : `expected one of ${property.choices?.join(', ')}; got "${value}"`
  }
  const check = checks[property.type]
  if (!check) return null
  const error = check(value.trim())
  if (error && allowExpressions && /[A-Za-z_]/.test(value)) return null
  return error
}

/** The editor to show for a property type. */
export function editorKind(property) {
  if (property.type === 'Option') return 'select'
  if (property.type === 'Boolean') return 'bool'
  return 'text'
}

/** Properties worth showing on a layer box (NNC shows the 'important' ones): sizes, shapes, axes, rates. */
export function keyProperties(layer, limit = 2) {
  const skip = /(\.|^ParameterScope$|^InPlace$|^Dataset$|^Generator|^WithBias$|^BorderMode$|^ChannelLast$)/
  return Object.entries(layer.properties ?? {}).filter(([name]) => !skip.test(name)).slice(0, limit)
}
