// The project list: create (empty or sample), open, copy, rename, delete and import.
import { useEffect, useRef, useState } from 'react'
import { api, q } from './api.js'
import { projectUrl } from './App.jsx'

export function Home() {
  const [projects, setProjects] = useState(null)
  const [name, setName] = useState('')
  const [message, setMessage] = useState(null)
  const fileInput = useRef(null)

  const refresh = () => api.get('projects').then(setProjects).catch((e) => setMessage(e.message))
  useEffect(() => {
    refresh()
  }, [])

  const act = async (work) => {
    setMessage(null)
    try {
      await work()
    } catch (e) {
      setMessage(e.message)
    }
    refresh()
  }
  const create = (template) => act(async () => {
    const wanted = name.trim() || (template === 'sample' ? 'MNIST_LeNet' : 'new_project')
    const project = await api.post('projects', { name: wanted, template })
    window.location.hash = projectUrl(project.name)
  })
  const importFile = (file) => act(async () => {
    const { name: imported } = await api.upload('projects/import', file)
    window.location.hash = projectUrl(imported)
  })

  return (
    <div className="home">
      <header className="topbar"><span className="brand">nnl console</span></header>
      <main className="home-main">
        <section className="home-actions">
          <input placeholder="Project name" value={name} data-testid="new-project-name"
            onChange={(e) => setName(e.target.value)} />
          <button data-testid="new-project" onClick={() => create('empty')}>New project</button>
          <button data-testid="new-sample" onClick={() => create('sample')}>New from sample (LeNet, MNIST)</button>
          <button data-testid="import-project" onClick={() => fileInput.current.click()}>
            Import .sdcproj / .nnlproj / .nntxt / .nnp / .onnx
          </button>
          <input ref={fileInput} type="file" hidden data-testid="import-file"
            accept=".sdcproj,.nnlproj,.nntxt,.nnp,.onnx"
            onChange={(e) => {
              if (e.target.files[0]) importFile(e.target.files[0])
              e.target.value = ''  // choosing the same file again (after fixing it) fires again
            }} />
        </section>
        {message && <div className="message error" data-testid="message">{message}</div>}
        <table className="project-list" data-testid="project-list">
          <thead><tr><th>Project</th><th>Modified</th><th>Description</th><th /></tr></thead>
          <tbody>
            {(projects ?? []).map((p) => (
              <tr key={p.name} data-testid={`project-${p.name}`}>
                <td><a href={projectUrl(p.name)}>{p.name}</a></td>
                <td>{new Date(p.modified * 1000).toLocaleString()}</td>
                <td className={p.error ? 'error' : ''}>{p.error ?? p.description}</td>
                <td className="row-actions">
                  <button onClick={() => act(() => api.post(`projects/${q(p.name)}/copy`, {}))}>Copy</button>
                  <button onClick={() => {
                    const to = window.prompt('New name', p.name)
                    if (to && to !== p.name) act(() => api.post(`projects/${q(p.name)}/rename`, { name: to }))
                  }}>Rename</button>
                  <button data-testid={`delete-${p.name}`} onClick={() => {
                    if (window.confirm(`Delete project ${p.name}?`)) act(() => api.del(`projects/${q(p.name)}`))
                  }}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {projects?.length === 0 && <p>No projects yet: create one or start from the sample.</p>}
      </main>
    </div>
  )
}
