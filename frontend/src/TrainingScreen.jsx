// TRAINING: start a job, live learning curve (SSE), elapsed/remaining time, stop/suspend/resume, history, overlay of
// several jobs' curves and the trade-off graph (best validation error vs a cost statistic) with its Pareto front.
import { useCallback, useEffect, useState } from 'react'
import { api, q } from './api.js'
import { LineChart, TradeoffChart } from './charts.jsx'
import { duration } from './format.js'
import { ACTIVE, addPoint, followJob } from './jobs.js'

const COSTS = ['CostParameter', 'CostAdd', 'CostMultiply', 'CostMultiplyAdd', 'CostDivision', 'CostExp', 'CostIf']

function JobView({ job, onChanged }) {
  const [series, setSeries] = useState({})
  const [status, setStatus] = useState({ state: job.state, progress: job.progress })
  const [log, setLog] = useState(null)
  const [logScale, setLogScale] = useState(false)

  useEffect(() => {
    setSeries({})
    setStatus({ state: job.state, progress: job.progress })
    setLog(null)
    return followJob(job.id, {
      onMetric: (name, epoch, value) => setSeries((s) => addPoint(s, name, epoch, value)),
      onState: (s) => setStatus(s),
      onDone: () => onChanged(),
    })
    // A new stream is needed when the job is resumed (its state goes back to queued/running).
  }, [job.id, ACTIVE.includes(job.state)])

  const action = async (name) => {
    try {
      await api.post(`jobs/${q(job.id)}/${name}`)
    } catch (e) {
      window.alert(e.message)
    }
    onChanged()
  }
  const p = status.progress ?? {}
  const state = status.state
  return (
    <div className="job-view" data-testid="job-view">
      <div className="job-header">
        <b>{job.id}</b>
        <span className={`state state-${state}`} data-testid="job-state">{state}</span>
        <span data-testid="job-epoch">epoch {p.epoch ?? 0} / {p.max_epoch ?? '?'}</span>
        {p.max_iteration ? <span>iteration {p.iteration} / {p.max_iteration}</span> : null}
        <span data-testid="job-elapsed">elapsed {duration(p.elapsed)}</span>
        <span data-testid="job-remaining">remaining {duration(p.remaining)}</span>
        <span className="spacer" />
        {ACTIVE.includes(state) && <button data-testid="job-stop" onClick={() => action('stop')}>Stop</button>}
        {state === 'running' && <button data-testid="job-suspend" onClick={() => action('suspend')}>Suspend</button>}
        {(state === 'suspended' || (state === 'failed' && job.resumable)) && (
          <button data-testid="job-resume" onClick={() => action('resume')}>Resume</button>
        )}
        <button onClick={() => api.get(`jobs/${q(job.id)}/log`).then((r) => setLog(r.log))}>Log</button>
        <a className="button" href={`api/jobs/${q(job.id)}/metrics`} target="_blank" rel="noreferrer">Metrics JSON</a>
      </div>
      {job.error && <pre className="message error" data-testid="job-error">{job.error}</pre>}
      <div className="chart-box">
        <div className="chart-title">Learning curve
          <label><input type="checkbox" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} /> log scale</label>
        </div>
        <LineChart series={Object.entries(series).map(([name, points]) => ({ name, points }))} log={logScale}
          testid="learning-curve" yLabel="cost / error" />
      </div>
      {log !== null && <pre className="log" data-testid="job-log">{log}</pre>}
    </div>
  )
}

function Overlay({ jobs }) {
  const [curves, setCurves] = useState({})
  const [metric, setMetric] = useState('valid_error')
  useEffect(() => {
    if (!jobs.length) return
    api.get(`curves?jobs=${jobs.map(q).join(',')}`).then(setCurves).catch(() => setCurves({}))
  }, [jobs.join(',')])
  const names = [...new Set(Object.values(curves).flatMap((s) => Object.keys(s)))]
  const series = Object.entries(curves).filter(([, s]) => s[metric]).map(([job, s]) => ({ name: job, points: s[metric] }))
  return (
    <div className="chart-box" data-testid="overlay">
      <div className="chart-title">Comparison of {jobs.length} jobs:
        <select value={metric} onChange={(e) => setMetric(e.target.value)}>
          {(names.length ? names : [metric]).map((n) => <option key={n}>{n}</option>)}
        </select>
      </div>
      <LineChart series={series} testid="overlay-chart" yLabel={metric} />
    </div>
  )
}

function Tradeoff({ refreshKey }) {
  const [statistic, setStatistic] = useState('CostMultiplyAdd')
  const [points, setPoints] = useState([])
  useEffect(() => {
    api.get(`tradeoff?statistic=${statistic}`).then(setPoints).catch(() => setPoints([]))
  }, [statistic, refreshKey])
  const usable = points.filter((p) => p.cost !== null)
  return (
    <div className="chart-box">
      <div className="chart-title">Trade-off graph: best validation error vs
        <select data-testid="tradeoff-statistic" value={statistic} onChange={(e) => setStatistic(e.target.value)}>
          {COSTS.map((c) => <option key={c}>{c}</option>)}
        </select>
      </div>
      {usable.length
        ? <TradeoffChart points={usable.map((p) => ({ label: p.job.slice(-6), x: p.cost, y: p.error, pareto: p.pareto }))}
          xLabel={statistic} yLabel="best valid_error" />
        : <p>No finished training job with a validation error yet.</p>}
    </div>
  )
}

export function TrainingScreen({ project, name, dirty, save }) {
  const [jobs, setJobs] = useState([])
  const [selected, setSelected] = useState(null)
  const [compare, setCompare] = useState([])
  const [message, setMessage] = useState(null)
  const [devices, setDevices] = useState([])
  const [device, setDevice] = useState(null)

  const refresh = useCallback(() => {
    api.get('jobs').then((all) => {
      const mine = all.filter((j) => j.kind === 'train' && j.project === name).sort((a, b) => b.created - a.created)
      setJobs(mine)
      setSelected((s) => s ?? mine[0]?.id ?? null)
    }).catch((e) => setMessage(e.message))
  }, [name])
  useEffect(() => {
    refresh()
  }, [refresh])
  // The device menu appears when the server lists the devices it can train on (GET /api/config "devices").
  useEffect(() => {
    api.get('config').then((c) => setDevices(Array.isArray(c.devices) ? c.devices : [])).catch(() => setDevices([]))
  }, [])
  // Queued jobs start when another ends: poll the list while any job is active.
  useEffect(() => {
    if (!jobs.some((j) => ACTIVE.includes(j.state))) return
    const timer = setInterval(refresh, 3000)
    return () => clearInterval(timer)
  }, [jobs, refresh])

  const run = async () => {
    setMessage(null)
    try {
      if (dirty) await save()
      const job = await api.post('jobs', device ? { document: project, device } : { document: project })
      setSelected(job.id)
      refresh()
    } catch (e) {
      setMessage(e.message)
    }
  }
  const remove = async (id) => {
    if (!window.confirm(`Delete job ${id} and its results?`)) return
    try {
      await api.del(`jobs/${q(id)}`)
    } catch (e) {
      setMessage(e.message)
    }
    if (selected === id) setSelected(null)
    refresh()
  }
  const job = jobs.find((j) => j.id === selected)
  return (
    <div className="training-screen side-layout">
      <aside>
        <button className="primary" data-testid="run-training" onClick={run}>Run training</button>
        {devices.length > 0 && (
          <label className="device">Device
            <select data-testid="device" value={device ?? devices[0]} onChange={(e) => setDevice(e.target.value)}>
              {devices.map((d) => <option key={d}>{d}</option>)}
            </select>
          </label>
        )}
        <h3>Job history</h3>
        {jobs.map((j) => (
          <div key={j.id} className={`side-item${j.id === selected ? ' active' : ''}`} data-testid={`job-${j.id}`}
            onClick={() => setSelected(j.id)}>
            <input type="checkbox" title="Compare" data-testid="compare" checked={compare.includes(j.id)}
              onClick={(e) => e.stopPropagation()}
              onChange={(e) => setCompare(e.target.checked ? [...compare, j.id] : compare.filter((c) => c !== j.id))} />
            <b>{j.id}</b> <span className={`state state-${j.state}`}>{j.state}</span>
            <br /><small>{new Date(j.created * 1000).toLocaleString()}</small>
            {!ACTIVE.includes(j.state) && <button className="tab-x" onClick={(e) => { e.stopPropagation(); remove(j.id) }}>×</button>}
          </div>
        ))}
      </aside>
      <main>
        {message && <pre className="message error" data-testid="training-message">{message}</pre>}
        {job ? <JobView key={job.id} job={job} onChanged={refresh} /> : <p>No training job yet: press Run training.</p>}
        {compare.length > 0 && <Overlay jobs={compare} />}
        <Tradeoff refreshKey={jobs.filter((j) => j.state === 'finished').length} />
      </main>
    </div>
  )
}
