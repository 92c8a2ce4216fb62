// Layer Property panel: the name, every catalogue property with a typed editor that refuses invalid values, the
// unit's arguments for Unit layers, and the computed (read-only) Input/Output shapes and costs.
import { useEffect, useState } from 'react'
import { editorKind, validateProperty } from './props.js'
import { compact } from './format.js'

function TextField({ testid, value, validate, onCommit, list }) {
  const [draft, setDraft] = useState(value)
  useEffect(() => setDraft(value), [value])
  const error = validate(draft)
  const commit = () => {
    if (!error && draft !== value) onCommit(draft)
  }
  return (
    <>
      <input data-testid={testid} className={error ? 'invalid' : ''} value={draft} list={list}
        onChange={(e) => setDraft(e.target.value)} onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit()
          if (e.key === 'Escape') setDraft(value)
        }} />
      {error && <div className="field-error" data-testid={`${testid}-error`}>{error}</div>}
    </>
  )
}

function PropertyEditor({ property, value, onCommit, allowExpressions, choices }) {
  const testid = `prop-${property.name}`
  if (!property.editable) return <span className="readonly" data-testid={testid}>{value}</span>
  const kind = choices ? 'select' : editorKind(property)
  if (kind === 'bool') {
    return <input type="checkbox" data-testid={testid} checked={value === 'True'}
      onChange={(e) => onCommit(e.target.checked ? 'True' : 'False')} />
  }
  if (kind === 'select') {
    const options = choices ?? property.choices ?? []
    return (
      <select data-testid={testid} value={value} onChange={(e) => onCommit(e.target.value)}>
        {!options.includes(value) && <option value={value}>{value}</option>}
        {options.map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
    )
  }
  return <TextField testid={testid} value={value} list={property.type === 'Dataset' ? 'dataset-variables' : undefined}
    validate={(v) => (choices ? null : validateProperty(property, v, allowExpressions))} onCommit={onCommit} />
}

export function PropertyPanel({ project, network, layer, definitions, result, onChange, variables = [] }) {
  if (!layer) return <div className="property-panel empty">Select a layer to edit its properties.</div>
  const definition = definitions[layer.type]
  const properties = [...(definition?.properties ?? [])]
  const allowExpressions = network.layers.some((l) => l.type === 'Argument')
  const choicesFor = {}
  if (layer.type === 'Unit') {
    choicesFor.Network = project.networks.map((n) => n.name).filter((n) => n !== network.name)
    const unit = project.networks.find((n) => n.name === layer.properties.Network)
    for (const argument of unit?.layers.filter((l) => l.type === 'Argument') ?? []) {
      properties.push({ name: argument.name, type: argument.properties.Type ?? 'Text',
        default: argument.properties.Value ?? '', editable: true })
    }
  }
  const setProperty = (name, v) => onChange({ properties: { ...layer.properties, [name]: v } })
  const nameTaken = (v) => network.layers.some((l) => l.name === v && l.id !== layer.id)
  return (
    <div className="property-panel" data-testid="property-panel">
      <h3>{layer.type}</h3>
      <datalist id="dataset-variables">{variables.map((v) => <option key={v} value={v} />)}</datalist>
      <table>
        <tbody>
          <tr>
            <td>Name</td>
            <td>
              <TextField testid="prop-Name" value={layer.name} onCommit={(v) => onChange({ name: v })}
                validate={(v) => (!v.trim() ? 'a name is required' : nameTaken(v) ? `${v} is used by another layer` : null)} />
            </td>
          </tr>
          {properties.map((p) => (
            <tr key={p.name}>
              <td title={p.type}>{p.name}</td>
              <td>
                <PropertyEditor property={p} value={layer.properties[p.name] ?? p.default} choices={choicesFor[p.name]}
                  allowExpressions={allowExpressions} onCommit={(v) => setProperty(p.name, v)} />
              </td>
            </tr>
          ))}
          <tr className="computed"><td>Output</td>
            <td data-testid="prop-Output">{result?.output_shape ? result.output_shape.join(',') : '-'}</td></tr>
          {Object.entries(result?.statistics ?? {}).map(([k, v]) => (
            <tr key={k} className="computed"><td>{k}</td><td>{compact(v)}</td></tr>
          ))}
        </tbody>
      </table>
      {result?.error && <div className="field-error" data-testid="layer-analysis-error">{result.error}</div>}
      {definition?.description && <p className="description">{definition.description}</p>}
    </div>
  )
}
