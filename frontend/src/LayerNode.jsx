// NNC-style layer box: coloured drop-cap, name, key properties, the selected statistic with its bar, and ports
// (main input on top, named connectors T/R/W/b... on the left, outputs at the bottom).
import { memo, useState } from 'react'
import { Handle, Position } from '@xyflow/react'
import { keyProperties } from './props.js'
import { compact } from './format.js'

const COLORS = {
  IO: '#6a9f58', Loss: '#c0504d', Parameter: '#8c7a5b', Basic: '#4f81bd', Pooling: '#4bacc6', Activation: '#f79646',
  LoopControl: '#9b59b6', Quantize: '#7f8c8d', Unit: '#2c3e50', Spectral: '#16a085', Math: '#27ae60',
  Trigonometric: '#27ae60', 'Arithmetic (Scalar)': '#1abc9c', 'Arithmetic (2 Inputs)': '#1abc9c',
  'Arithmetic (N Inputs)': '#1abc9c', Logical: '#95a5a6', Validation: '#c0504d', Normalization: '#8064a2',
  Others: '#7f7f7f', 'Others(Pre Process)': '#a5a5a5',
}

export const categoryColor = (category) => COLORS[category] ?? '#7f7f7f'

function LayerNodeView({ data, selected }) {
  const { layer, definition, value, fraction, shape, error, repeat } = data
  const inputs = definition?.inputs ?? ['x']
  const outputs = definition?.outputs ?? ['y']
  const classes = ['layer-box', selected && 'selected', error && 'has-error'].filter(Boolean).join(' ')
  return (
    <div className={classes} data-testid={`layer-${layer.name}`} title={error ?? definition?.description ?? ''}>
      {inputs.length > 0 && <Handle type="target" position={Position.Top} id="i0" data-testid="port-in" />}
      {inputs.slice(1).map((name, k) => (
        <Handle key={name} type="target" position={Position.Left} id={`i${k + 1}`} data-testid={`port-${name}`}
          className="named-port" style={{ top: 10 + k * 14 }}>
          <span className="port-label">{name}</span>
        </Handle>
      ))}
      <div className="drop-cap" style={{ background: categoryColor(definition?.category) }}>{layer.type[0]}</div>
      <div className="layer-main">
        <div className="layer-name">{layer.name}</div>
        <div className="layer-props">
          {keyProperties(layer).map(([k, v]) => `${k}:${v}`).join('  ')}
        </div>
      </div>
      <div className="layer-stat" data-testid="layer-stat">
        <span className="stat-value">{shape !== undefined ? shape : compact(value)}</span>
        <span className="stat-bar" style={{ width: `${Math.round((fraction ?? 0) * 100)}%` }} />
      </div>
      {repeat > 1 && <span className="repeat-badge" data-testid="repeat-badge" title="runs this many times (Repeat block)">x{repeat}</span>}
      {error && <div className="layer-error" data-testid="layer-error">{error}</div>}
      {outputs.map((name, k) => (
        <Handle key={name} type="source" position={Position.Bottom} id={`o${k}`} data-testid="port-out"
          style={outputs.length > 1 ? { left: `${((k + 1) * 100) / (outputs.length + 1)}%` } : undefined} />
      ))}
    </div>
  )
}

function CommentNodeView({ data, selected }) {
  const [editing, setEditing] = useState(false)
  const [text, setText] = useState('')
  const finish = () => {
    setEditing(false)
    if (text !== data.comment.text) data.onText(text)
  }
  return (
    <div className={`comment-box${selected ? ' selected' : ''}`} data-testid="comment"
      onDoubleClick={() => { setText(data.comment.text); setEditing(true) }}>
      {editing
        ? <textarea className="nodrag" autoFocus value={text} onChange={(e) => setText(e.target.value)} onBlur={finish} />
        : <span>{data.comment.text}</span>}
    </div>
  )
}

export const LayerNode = memo(LayerNodeView)
export const CommentNode = memo(CommentNodeView)
