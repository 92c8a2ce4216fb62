// DATASET: the project's dataset slots (Training, Validation...), linked to CSV files of the workspace, with a preview
// (image thumbnails, variable kinds and shapes) and a creator from a folder of images (one sub-folder per class).
import { useEffect, useState } from 'react'
import { api, q } from './api.js'

const PAGE = 20

function Preview({ uri }) {
  const [offset, setOffset] = useState(0)
  const [data, setData] = useState(null)
  const [error, setError] = useState(null)
  useEffect(() => setOffset(0), [uri])
  useEffect(() => {
    if (!uri) return
    setError(null)
    api.get(`datasets/preview?path=${q(uri)}&offset=${offset}&limit=${PAGE}`).then(setData)
      .catch((e) => { setData(null); setError(e.message) })
  }, [uri, offset])
  if (!uri) return <p>Link a dataset to see its contents.</p>
  if (error) return <div className="message error" data-testid="preview-error">{error}</div>
  if (!data) return <p>Loading…</p>
  const imageColumns = new Set(data.variables.filter((v) => v.kind === 'image').flatMap((v) => v.columns))
  return (
    <div className="preview" data-testid="dataset-preview">
      <div className="variables">
        {data.variables.map((v) => (
          <span key={v.name} className="variable" data-testid={`variable-${v.name}`}>
            <b>{v.name}</b> {v.kind}{v.shape.length ? ` (${v.shape.join(',')})` : ''}
          </span>
        ))}
        <span data-testid="dataset-rows">{data.total} rows × {data.header.length} columns</span>
      </div>
      <table className="data-table">
        <thead><tr><th>#</th>{data.header.map((h) => <th key={h}>{h}</th>)}</tr></thead>
        <tbody>
          {data.rows.map((row, r) => (
            <tr key={data.offset + r}>
              <td>{data.offset + r + 1}</td>
              {row.map((cell, c) => (
                <td key={c}>
                  {imageColumns.has(c)
                    ? <img className="thumb" alt={cell} title={cell}
                      src={`api/datasets/image?path=${q(cell)}&base=${q(uri)}&size=64`} />
                    : cell}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <div className="pager">
        <button disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>Previous</button>
        <span>{offset + 1}–{Math.min(offset + PAGE, data.total)} of {data.total}</span>
        <button disabled={offset + PAGE >= data.total} onClick={() => setOffset(offset + PAGE)}>Next</button>
      </div>
    </div>
  )
}

function ImageFolderForm({ onCreated }) {
  const [form, setForm] = useState({ source: 'datasets/', output: 'datasets/new_dataset', channels: 3, width: 32,
    height: 32, mode: 'trimming', shuffle: true, file1: 'train.csv', ratio1: 80, file2: 'test.csv', ratio2: 20 })
  const [result, setResult] = useState(null)
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value })
  const submit = async () => {
    try {
      const body = { ...form, channels: Number(form.channels), width: Number(form.width), height: Number(form.height),
        ratio1: Number(form.ratio1), ratio2: form.file2 ? Number(form.ratio2) : null, file2: form.file2 || null }
      const { written } = await api.post('datasets/image-folder', body)
      setResult(`Written: ${written.join(', ')}`)
      onCreated()
    } catch (e) {
      setResult(e.message)
    }
  }
  return (
    <details className="image-folder">
      <summary>Create a dataset from an image folder</summary>
      <div className="form-grid">
        <label>Source folder (one sub-folder per class)<input value={form.source} onChange={set('source')} /></label>
        <label>Output folder<input value={form.output} onChange={set('output')} /></label>
        <label>Channels<select value={form.channels} onChange={set('channels')}><option>1</option><option>3</option></select></label>
        <label>Width<input type="number" min="1" value={form.width} onChange={set('width')} /></label>
        <label>Height<input type="number" min="1" value={form.height} onChange={set('height')} /></label>
        <label>Shaping<select value={form.mode} onChange={set('mode')}><option>trimming</option><option>padding</option></select></label>
        <label>Shuffle<input type="checkbox" checked={form.shuffle} onChange={set('shuffle')} /></label>
        <label>File 1<input value={form.file1} onChange={set('file1')} /></label>
        <label>Ratio 1 (%)<input type="number" value={form.ratio1} onChange={set('ratio1')} /></label>
        <label>File 2 (optional)<input value={form.file2} onChange={set('file2')} /></label>
        <label>Ratio 2 (%)<input type="number" value={form.ratio2} onChange={set('ratio2')} /></label>
      </div>
      <button onClick={submit}>Create</button>
      {result && <div className="message">{result}</div>}
    </details>
  )
}

export function DatasetScreen({ project, change }) {
  const [index, setIndex] = useState(0)
  const [available, setAvailable] = useState([])
  const refresh = () => api.get('datasets').then(setAvailable).catch(() => setAvailable([]))
  useEffect(() => {
    refresh()
  }, [])
  const datasets = project.datasets
  const current = datasets[Math.min(index, datasets.length - 1)]
  const update = (i, patch) => change({ ...project, datasets: datasets.map((d, k) => (k === i ? { ...d, ...patch } : d)) })
  const add = () => {
    const name = window.prompt('Dataset slot name', `Dataset${datasets.length + 1}`)
    if (!name || datasets.some((d) => d.name === name)) return
    change({ ...project, datasets: [...datasets, { name, uri: '', shuffle: false, enable_cache: false,
      image_normalization: true }] })
    setIndex(datasets.length)
  }
  const drop = (i) => {
    if (window.confirm(`Remove dataset slot ${datasets[i].name}?`)) {
      change({ ...project, datasets: datasets.filter((_, k) => k !== i) })
      setIndex(0)
    }
  }
  const i = datasets.indexOf(current)
  return (
    <div className="dataset-screen side-layout">
      <aside>
        <h3>Datasets</h3>
        {datasets.map((d, k) => (
          <div key={d.name} className={`side-item${k === i ? ' active' : ''}`} data-testid={`dataset-slot-${d.name}`}
            onClick={() => setIndex(k)}>
            <b>{d.name}</b><br /><small>{d.uri || 'not linked'}</small>
          </div>
        ))}
        <button onClick={add}>Add slot</button>
      </aside>
      <main>
        {current && (
          <>
            <div className="slot-settings">
              <label>Linked CSV
                <select data-testid="dataset-link" value={current.uri} onChange={(e) => update(i, { uri: e.target.value })}>
                  <option value="">(none)</option>
                  {!available.some((a) => a.path === current.uri) && current.uri && <option>{current.uri}</option>}
                  {available.map((a) => <option key={a.path} value={a.path}>{a.path}</option>)}
                </select>
              </label>
              <label><input type="checkbox" checked={!!current.shuffle} onChange={(e) => update(i, { shuffle: e.target.checked })} />Shuffle</label>
              <label><input type="checkbox" checked={!!current.image_normalization}
                onChange={(e) => update(i, { image_normalization: e.target.checked })} />Image normalization (1/255)</label>
              <label><input type="checkbox" checked={!!current.enable_cache}
                onChange={(e) => update(i, { enable_cache: e.target.checked })} />Cache</label>
              <button onClick={() => drop(i)}>Remove slot</button>
            </div>
            <Preview uri={current.uri} />
          </>
        )}
        <ImageFolderForm onCreated={refresh} />
      </main>
    </div>
  )
}
