// Hash routing: '#/' is the project list, '#/project/<name>/<tab>' a project's screen.
import { useEffect, useState } from 'react'
import { Home } from './Home.jsx'
import { ProjectView } from './ProjectView.jsx'

export const TABS = ['edit', 'dataset', 'config', 'training', 'evaluation']

export function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  if (parts[0] === 'project' && parts[1]) return { project: parts[1], tab: TABS.includes(parts[2]) ? parts[2] : 'edit' }
  return { project: null, tab: null }
}

export const projectUrl = (name, tab = 'edit') => `#/project/${encodeURIComponent(name)}/${tab}`

export function App() {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash))
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(window.location.hash))
    window.addEventListener('hashchange', onHash)
    return () => window.removeEventListener('hashchange', onHash)
  }, [])
  return route.project ? <ProjectView key={route.project} name={route.project} tab={route.tab} /> : <Home />
}
