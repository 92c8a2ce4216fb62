// The EDIT screen: palette, one canvas tab per network, property panel, statistics panel and live analysis.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import {
  ReactFlow, ReactFlowProvider, Background, Controls, MiniMap, applyNodeChanges, applyEdgeChanges, useReactFlow,
} from '@xyflow/react'
import { api } from './api.js'
import * as G from './graph.js'
import { LayerNode, CommentNode, categoryColor } from './LayerNode.jsx'
import { PropertyPanel } from './PropertyPanel.jsx'
import { STATISTICS, compact, statisticValue } from './format.js'

const nodeTypes = { layer: LayerNode, comment: CommentNode }
const ANALYZE_DELAY_MS = 300

function Palette({ palette, onAdd }) {
  const [search, setSearch] = useState('')
  const [closed, setClosed] = useState({})
  const needle = search.trim().toLowerCase()
  return (
    <div className="palette">
      <input className="search" placeholder="Search layers" value={search} data-testid="palette-search"
        onChange={(e) => setSearch(e.target.value)} />
      {palette.map((category) => {
        const layers = category.layers.filter((l) => !needle || l.type.toLowerCase().includes(needle))
        if (!layers.length) return null
        const open = needle || !closed[category.name]
        return (
          <div key={category.name} className="palette-category">
            <div className="category-title" onClick={() => setClosed({ ...closed, [category.name]: open })}>
              {open ? '▾' : '▸'} {category.name}
            </div>
            {open && layers.map((l) => (
              <div key={l.type} className="palette-item" draggable data-testid={`palette-${l.type}`}
                title={`${l.description}\n(drag to the canvas, or double-click to add below the selected layer)`}
                onDoubleClick={() => onAdd(l.type)}
                onDragStart={(e) => {
                  e.dataTransfer.setData('application/x-nnl-layer', l.type)
                  e.dataTransfer.effectAllowed = 'move'
                }}>
                <span className="mini-cap" style={{ background: categoryColor(l.category) }}>{l.type[0]}</span>{l.type}
              </div>
            ))}
          </div>
        )
      })}
    </div>
  )
}

function StatisticsPanel({ analysis, analyzing, statistic, setStatistic, onSelectLayer, network }) {
  const totals = useMemo(() => {
    if (!analysis) return {}
    const out = { ...analysis.total }
    out.Output = Object.values(analysis.layers).reduce((s, r) => s + (statisticValue(r, 'Output') ?? 0), 0)
    return out
  }, [analysis])
  const nameOf = (id) => network.layers.find((l) => String(l.id) === String(id))?.name ?? id
  const layerErrors = analysis ? Object.entries(analysis.layers).filter(([, r]) => r.error) : []
  return (
    <div className="stats-panel" data-testid="statistics">
      <h3>Statistics {analyzing && <span className="busy" data-testid="analyzing">analysing…</span>}</h3>
      {STATISTICS.map((s) => (
        <div key={s} className={`stat-row${s === statistic ? ' active' : ''}`} data-testid={`stat-${s}`}
          onClick={() => setStatistic(s)}>
          <span>{s}</span><span className="stat-total">{compact(totals[s])}</span>
        </div>
      ))}
      {(layerErrors.length > 0 || analysis?.errors?.length > 0) && (
        <div className="error-list" data-testid="analysis-errors">
          <h3>Errors</h3>
          {layerErrors.map(([id, r]) => (
            <div key={id} className="error-item" onClick={() => onSelectLayer(Number(id))}>
              <b>{nameOf(id)}</b>: {r.error}
            </div>
          ))}
          {analysis.errors.filter((e) => !layerErrors.some(([, r]) => r.error === e)).map((e) => (
            <div key={e} className="error-item">{e}</div>
          ))}
        </div>
      )}
    </div>
  )
}

/** A named connector's name (T, R, W...), or the input order when several links enter one main input (as NNC). */
function linkLabel(network, link, definitions) {
  if (link.dest_pin > 0) return definitions[network.layers.find((l) => l.id === link.dest)?.type]?.inputs?.[link.dest_pin]
  const siblings = network.links.filter((l) => l.dest === link.dest && l.dest_pin === 0)
  return siblings.length > 1 ? String(siblings.indexOf(link) + 1) : undefined
}

const READABLE_ZOOM = 0.6

/**
 * The first view of a network: all of it when that stays readable, else its top-left corner at a readable zoom
 * (as NNC opens large networks). An empty network keeps zoom 1, so that the first drop does not move the view.
 */
function openView(network, element, fitView, setViewport) {
  const items = [...network.layers, ...(network.comments ?? [])]
  if (!items.length || !element) return
  const minX = Math.min(...items.map((l) => l.x))
  const minY = Math.min(...items.map((l) => l.y))
  const width = Math.max(...items.map((l) => l.x + G.LAYER_W)) - minX
  const height = Math.max(...items.map((l) => l.y + G.LAYER_H)) - minY
  const box = element.getBoundingClientRect()
  if (Math.min(box.width / width, box.height / height) >= READABLE_ZOOM) fitView({ maxZoom: 1, padding: 0.1 })
  else setViewport({ x: 40 - minX * READABLE_ZOOM, y: 20 - minY * READABLE_ZOOM, zoom: READABLE_ZOOM })
}

function NetworkTabs({ project, index, setIndex, change }) {
  const add = () => {
    const name = window.prompt('Name of the new network', `Network${project.networks.length + 1}`)
    if (!name) return
    if (project.networks.some((n) => n.name === name)) return window.alert(`A network named ${name} exists already`)
    change({ ...project, networks: [...project.networks, { name, layers: [], links: [], comments: [] }] })
    setIndex(project.networks.length)
  }
  const rename = (i) => {
    const old = project.networks[i].name
    const name = window.prompt('Rename network', old)
    if (!name || name === old) return
    if (project.networks.some((n) => n.name === name)) return window.alert(`A network named ${name} exists already`)
    const networks = project.networks.map((n, k) => (k === i ? { ...n, name } : n))
    const rewire = (items) => items.map((it) => (it.network === old ? { ...it, network: name } : it))
    change({ ...project, networks, optimizers: rewire(project.optimizers), monitors: rewire(project.monitors),
      executors: rewire(project.executors) })
  }
  const drop = (i) => {
    if (project.networks.length === 1) return
    if (!window.confirm(`Delete network ${project.networks[i].name}?`)) return
    change({ ...project, networks: project.networks.filter((_, k) => k !== i) })
    setIndex(0)
  }
  return (
    <div className="network-tabs">
      {project.networks.map((n, i) => (
        <span key={n.name} className={`network-tab${i === index ? ' active' : ''}`} data-testid={`network-tab-${n.name}`}
          onClick={() => setIndex(i)} onDoubleClick={() => rename(i)} title="Double-click to rename">
          {n.name}
          {project.networks.length > 1 && i === index && <button className="tab-x" onClick={() => drop(i)}>×</button>}
        </span>
      ))}
      <button className="network-add" onClick={add} title="Add a network">+</button>
    </div>
  )
}

function Canvas({ project, networkIndex, openNetwork, change, definitions, palette, undo, redo, canUndo, canRedo }) {
  const network = project.networks[networkIndex]
  const { screenToFlowPosition, fitView, setViewport } = useReactFlow()
  const canvasRef = useRef(null)
  const [analysis, setAnalysis] = useState(null)
  const [statistic, setStatistic] = useState('Output')
  const [nodes, setNodes] = useState([])
  const [edges, setEdges] = useState([])
  const clipboard = useRef(null)
  const request = useRef(0)

  const setNetwork = useCallback((next) => {
    const networks = project.networks.map((n, i) => (i === networkIndex ? next : n))
    change({ ...project, networks })
  }, [project, networkIndex, change])

  // Variable names of the first linked dataset, offered for Dataset properties (Input's x, a loss's T: y).
  const [variables, setVariables] = useState([])
  const firstUri = project.datasets.find((d) => d.uri)?.uri
  useEffect(() => {
    if (!firstUri) return
    api.get(`datasets/preview?path=${encodeURIComponent(firstUri)}&limit=1`)
      .then((d) => setVariables(d.variables.map((v) => v.name))).catch(() => setVariables([]))
  }, [firstUri])

  // Live analysis: debounced after each edit; a late answer for an older version is dropped.
  const [analyzing, setAnalyzing] = useState(true)
  useEffect(() => {
    const ticket = ++request.current
    setAnalyzing(true)
    const done = (result) => {
      if (ticket !== request.current) return
      setAnalysis(result)
      setAnalyzing(false)
    }
    const timer = setTimeout(() => {
      api.post('analyze', { project, network: network.name }).then(done)
        .catch((e) => done({ layers: {}, total: {}, errors: [String(e.message)] }))
    }, ANALYZE_DELAY_MS)
    return () => clearTimeout(timer)
  }, [project, network.name])

  // Nodes and edges are derived from the document; selection survives the rebuild.
  useEffect(() => {
    const values = network.layers.map((l) => statisticValue(analysis?.layers?.[l.id], statistic) ?? 0)
    const repeats = G.repeatTimes(network)
    const max = Math.max(1, ...values)
    setNodes((old) => {
      const selected = new Set(old.filter((n) => n.selected).map((n) => n.id))
      // Keeping React Flow's measured size avoids a re-measure, during which edges are not drawn (a flicker).
      const measured = Object.fromEntries(old.map((n) => [n.id, n.measured]))
      const layers = network.layers.map((layer, k) => {
        const result = analysis?.layers?.[layer.id]
        const id = `L${layer.id}`
        return {
          id, type: 'layer', position: { x: layer.x, y: layer.y }, selected: selected.has(id), measured: measured[id],
          data: {
            layer, definition: definitions[layer.type], error: result?.error ?? null, value: values[k],
            fraction: values[k] / max, repeat: repeats[layer.id],
            shape: statistic === 'Output' ? (result?.output_shape ? result.output_shape.join(',') : '-') : undefined,
          },
        }
      })
      const comments = (network.comments ?? []).map((comment) => ({
        id: `C${comment.id}`, type: 'comment', position: { x: comment.x, y: comment.y },
        selected: selected.has(`C${comment.id}`), measured: measured[`C${comment.id}`],
        data: { comment, onText: (text) => setNetwork(G.updateComment(network, comment.id, { text })) },
      }))
      return [...comments, ...layers]
    })
    setEdges((old) => {
      const selected = new Set(old.filter((e) => e.selected).map((e) => e.id))
      return network.links.map((link) => ({
        id: `E${link.id}`, source: `L${link.source}`, target: `L${link.dest}`, sourceHandle: `o${link.source_pin}`,
        targetHandle: `i${link.dest_pin}`, selected: selected.has(`E${link.id}`), label: linkLabel(network, link, definitions),
      }))
    })
  }, [network, analysis, statistic, definitions, setNetwork])

  const selectedLayers = nodes.filter((n) => n.selected && n.type === 'layer').map((n) => n.data.layer.id)
  const selectedLayer = selectedLayers.length === 1 ? network.layers.find((l) => l.id === selectedLayers[0]) : null

  const selectLayer = (id) => setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === `L${id}` })))

  const onDrop = (e) => {
    e.preventDefault()
    const type = e.dataTransfer.getData('application/x-nnl-layer')
    if (!definitions[type]) return
    const p = screenToFlowPosition({ x: e.clientX, y: e.clientY })
    const { network: next, layer } = G.addLayer(network, definitions[type], p.x - G.LAYER_W / 2, p.y - G.LAYER_H / 2)
    setNetwork(next)
    setTimeout(() => selectLayer(layer.id), 0)
  }

  // Double-click in the palette: the new layer goes below the selected one and is linked to it (as NNC does).
  const appendLayer = (type) => {
    const below = selectedLayer
    const at = below ? { x: below.x, y: below.y + G.LAYER_H + G.GRID }
      : screenToFlowPosition({ x: canvasRef.current.getBoundingClientRect().left + 80, y: canvasRef.current.getBoundingClientRect().top + 40 })
    const { network: added, layer } = G.addLayer(network, definitions[type], at.x, at.y)
    const linked = below && definitions[type].inputs.length > 0 ? G.connect(added, below.id, 0, layer.id, 0) : added
    setNetwork(linked)
    setTimeout(() => selectLayer(layer.id), 0)
  }

  const onConnect = ({ source, target, sourceHandle, targetHandle }) => {
    setNetwork(G.connect(network, Number(source.slice(1)), Number((sourceHandle ?? 'o0').slice(1)),
      Number(target.slice(1)), Number((targetHandle ?? 'i0').slice(1))))
  }

  // Double-clicking a Unit opens the network it calls.
  const onNodeDoubleClick = (_, node) => {
    const called = node.type === 'layer' && node.data.layer.type === 'Unit' ? node.data.layer.properties.Network : null
    const index = project.networks.findIndex((n) => n.name === called)
    if (index >= 0) openNetwork(index)
  }

  const onNodeDragStop = (_, __, dragged) => {
    const positions = Object.fromEntries(dragged.map((n) => [Number(n.id.slice(1)), n.position]))
    setNetwork(G.moveItems(network, positions))
  }

  const copy = () => {
    if (selectedLayers.length) clipboard.current = G.copyLayers(network, selectedLayers)
  }
  const pasteClip = () => {
    if (!clipboard.current) return
    const { network: next, ids } = G.paste(network, clipboard.current)
    setNetwork(next)
    setTimeout(() => setNodes((ns) => ns.map((n) => ({ ...n, selected: ids.includes(Number(n.id.slice(1))) && n.type === 'layer' }))), 0)
  }
  const deleteSelected = () => {
    setNetwork(G.remove(network, {
      layers: selectedLayers,
      comments: nodes.filter((n) => n.selected && n.type === 'comment').map((n) => n.data.comment.id),
      links: edges.filter((e) => e.selected).map((e) => Number(e.id.slice(1))),
    }))
  }

  // Keyboard shortcuts while no text field has the focus. Delete is handled here too: React Flow's own delete key
  // stops answering after Ctrl+Z (its pressed-key set keeps a key), so its deleteKeyCode is off.
  const shortcuts = useRef({})
  shortcuts.current = { copy, pasteClip, undo, redo, deleteSelected,
    selectAll: () => setNodes((ns) => ns.map((n) => ({ ...n, selected: true }))) }
  useEffect(() => {
    const onKey = (e) => {
      if (['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName)) return
      const s = shortcuts.current
      if ((e.key === 'Delete' || e.key === 'Backspace') && !e.ctrlKey && !e.metaKey) {
        s.deleteSelected()
        e.preventDefault()
        return
      }
      if (!(e.ctrlKey || e.metaKey)) return
      const k = e.key.toLowerCase()
      if (k === 'a') s.selectAll()
      else if (k === 'c') s.copy()
      else if (k === 'v') s.pasteClip()
      else if (k === 'z' && !e.shiftKey) s.undo()
      else if (k === 'y' || (k === 'z' && e.shiftKey)) s.redo()
      else return
      e.preventDefault()
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])

  return (
    <div className="editor">
      <div className="left-column">
        <Palette palette={palette} onAdd={appendLayer} />
        <PropertyPanel project={project} network={network} layer={selectedLayer} definitions={definitions}
          variables={variables}
          result={selectedLayer ? analysis?.layers?.[selectedLayer.id] : null}
          onChange={(change) => setNetwork(G.updateLayer(network, selectedLayer.id, change))} />
      </div>
      <div className="center-column">
        <div className="toolbar">
          <button onClick={undo} disabled={!canUndo} data-testid="undo" title="Ctrl+Z">Undo</button>
          <button onClick={redo} disabled={!canRedo} data-testid="redo" title="Ctrl+Y">Redo</button>
          <button onClick={copy} disabled={!selectedLayers.length} data-testid="copy" title="Ctrl+C">Copy</button>
          <button onClick={pasteClip} data-testid="paste" title="Ctrl+V">Paste</button>
          <button onClick={deleteSelected} data-testid="delete" title="Delete">Delete</button>
          <button data-testid="arrange" onClick={() => {
            setNetwork(G.autoArrange(network))
            setTimeout(() => fitView({ maxZoom: 1, duration: 200 }), 50)
          }}>Arrange layers</button>
          <button data-testid="add-comment" onClick={() => {
            const p = screenToFlowPosition({ x: 400, y: 200 })
            setNetwork(G.addComment(network, p.x, p.y))
          }}>Comment</button>
        </div>
        <div className="canvas" data-testid="canvas" ref={canvasRef} onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes}
            onNodesChange={(c) => setNodes((ns) => applyNodeChanges(c, ns))}
            onEdgesChange={(c) => setEdges((es) => applyEdgeChanges(c, es))}
            onConnect={onConnect} onNodeDragStop={onNodeDragStop} onNodeDoubleClick={onNodeDoubleClick}
            snapToGrid snapGrid={[G.GRID, G.GRID]} deleteKeyCode={null}
            minZoom={0.2} onInit={() => openView(network, canvasRef.current, fitView, setViewport)} proOptions={{ hideAttribution: true }}>
            <Background gap={G.GRID} />
            <Controls />
            <MiniMap pannable zoomable />
          </ReactFlow>
        </div>
      </div>
      <StatisticsPanel analysis={analysis} analyzing={analyzing} statistic={statistic} setStatistic={setStatistic}
        onSelectLayer={selectLayer} network={network} />
    </div>
  )
}

export function Editor({ networkIndex: index, setNetworkIndex, ...props }) {
  const networkIndex = Math.min(index, props.project.networks.length - 1)
  return (
    <div className="edit-screen">
      <NetworkTabs project={props.project} index={networkIndex} setIndex={setNetworkIndex} change={props.change} />
      <ReactFlowProvider key={networkIndex}>
        <Canvas {...props} networkIndex={networkIndex} openNetwork={setNetworkIndex} />
      </ReactFlowProvider>
    </div>
  )
}
