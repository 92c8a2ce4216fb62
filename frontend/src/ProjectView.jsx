// One open project: the top tabs (EDIT, DATASET, CONFIG, TRAINING, EVALUATION), save, export and undo history.
import { useCallback, useEffect, useState } from 'react'
import { api, q } from './api.js'
import { TABS, projectUrl } from './App.jsx'
import { history, pushHistory, undo, redo } from './graph.js'
import { Editor } from './Editor.jsx'
import { DatasetScreen } from './DatasetScreen.jsx'
import { ConfigScreen } from './ConfigScreen.jsx'
import { TrainingScreen } from './TrainingScreen.jsx'
import { EvaluationScreen } from './EvaluationScreen.jsx'

const EXPORTS = [['sdcproj', 'NNC project (.sdcproj)'], ['nnlproj', 'nnl project (.nnlproj)'], ['nntxt', 'nntxt'],
  ['nnp', 'NNP'], ['onnx', 'ONNX'], ['python', 'Python code (nnl) of this network']]

function download(url) {
  const a = document.createElement('a')
  a.href = url
  a.download = ''
  document.body.appendChild(a)
  a.click()
  a.remove()
}

export function ProjectView({ name, tab }) {
  const [state, setState] = useState(null)
  const [saved, setSaved] = useState(null)
  const [catalogue, setCatalogue] = useState(null)
  const [message, setMessage] = useState(null)
  const [exportOpen, setExportOpen] = useState(false)
  const [networkIndex, setNetworkIndex] = useState(0)

  useEffect(() => {
    api.get(`projects/${q(name)}`).then((p) => {
      setState(history(p))
      setSaved(p)
    }).catch((e) => setMessage(e.message))
    api.get('catalogue').then((c) => setCatalogue(c)).catch((e) => setMessage(e.message))
  }, [name])

  const change = useCallback((next) => setState((h) => pushHistory(h, next)), [])
  const project = state?.present
  const dirty = project !== saved

  const save = useCallback(async () => {
    if (!project) return false
    try {
      await api.put(`projects/${q(name)}`, project)
      setSaved(project)
      setMessage(null)
      return true
    } catch (e) {
      setMessage(e.message)
      return false
    }
  }, [project, name])

  // Leaving the page with unsaved edits asks first (the browser shows its own wording).
  useEffect(() => {
    if (!dirty) return
    const onLeave = (e) => e.preventDefault()
    window.addEventListener('beforeunload', onLeave)
    return () => window.removeEventListener('beforeunload', onLeave)
  }, [dirty])

  useEffect(() => {
    const onKey = (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault()
        save()
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [save])

  const exportAs = async (format) => {
    setExportOpen(false)
    if (dirty && !(await save())) return
    const network = project.networks[Math.min(networkIndex, project.networks.length - 1)].name
    download(`api/projects/${q(name)}/export/${format}${format === 'python' ? `?network=${q(network)}` : ''}`)
  }

  if (!project || !catalogue) {
    return <div className="loading">{message ?? 'Loading…'} <a href="#/">Projects</a></div>
  }
  const definitions = Object.fromEntries(catalogue.palette.flatMap((c) => c.layers.map((l) => [l.type, l])))
  const common = { project, change, save, setMessage }
  return (
    <div className="project-view">
      <header className="topbar">
        <a className="brand" href="#/">nnl console</a>
        <span className="project-name" data-testid="project-name">{name}{dirty ? ' *' : ''}</span>
        <nav className="tabs">
          {TABS.map((t) => (
            <a key={t} href={projectUrl(name, t)} className={t === tab ? 'active' : ''} data-testid={`tab-${t}`}>
              {t.toUpperCase()}
            </a>
          ))}
        </nav>
        <span className="spacer" />
        <button data-testid="save" onClick={save} disabled={!dirty}>Save</button>
        <span className="menu">
          <button data-testid="export" onClick={() => setExportOpen(!exportOpen)}>Export ▾</button>
          {exportOpen && (
            <div className="menu-list">
              {EXPORTS.map(([f, label]) => (
                <div key={f} className="menu-item" data-testid={`export-${f}`} onClick={() => exportAs(f)}>{label}</div>
              ))}
            </div>
          )}
        </span>
      </header>
      {message && <div className="message error" data-testid="message" onClick={() => setMessage(null)}>{message}</div>}
      <div className="screen">
        {tab === 'edit' && <Editor {...common} networkIndex={networkIndex} setNetworkIndex={setNetworkIndex} definitions={definitions} palette={catalogue.palette}
          undo={() => setState(undo)} redo={() => setState(redo)}
          canUndo={state.past.length > 0} canRedo={state.future.length > 0} />}
        {tab === 'dataset' && <DatasetScreen {...common} />}
        {tab === 'config' && <ConfigScreen {...common} />}
        {tab === 'training' && <TrainingScreen {...common} name={name} dirty={dirty} />}
        {tab === 'evaluation' && <EvaluationScreen {...common} name={name} />}
      </div>
    </div>
  )
}
