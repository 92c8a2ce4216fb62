// EVALUATION: run `nnl forward` on a training job's best model; output table with thumbnails and predictions,
// confusion matrices with accuracy and per-class precision/recall/F, likelihood histogram, report download.
import { useCallback, useEffect, useState } from 'react'
import { api, q } from './api.js'
import { Histogram } from './charts.jsx'
import { followJob } from './jobs.js'

const PAGE = 20
const pct = (v) => `${(v * 100).toFixed(2)}%`

function ConfusionMatrix({ name, m }) {
  return (
    <div className="confusion" data-testid={`confusion-${name}`}>
      <h4>{name} (label {m.label})</h4>
      <table className="metrics">
        <tbody>
          <tr><td>Accuracy</td><td data-testid="accuracy">{pct(m.accuracy)}</td></tr>
          <tr><td>Avg. precision</td><td>{pct(m.avg_precision)}</td></tr>
          <tr><td>Avg. recall</td><td>{pct(m.avg_recall)}</td></tr>
          <tr><td>Avg. F-measure</td><td>{pct(m.avg_f_measure)}</td></tr>
          <tr><td>Samples</td><td>{m.samples}</td></tr>
        </tbody>
      </table>
      <table className="matrix">
        <thead>
          <tr><th>true \ predicted</th>{m.matrix.map((_, j) => <th key={j}>{j}</th>)}<th>Recall</th><th>F</th></tr>
        </thead>
        <tbody>
          {m.matrix.map((row, i) => {
            const total = row.reduce((a, b) => a + b, 0)
            return (
              <tr key={i}>
                <th>{i}</th>
                {row.map((c, j) => (
                  <td key={j} className={i === j ? 'diag' : c ? 'off' : ''}
                    style={{ opacity: total ? 0.35 + (0.65 * c) / total : 1 }}>{c}</td>
                ))}
                <td>{pct(m.recall[i])}</td><td>{pct(m.f_measure[i])}</td>
              </tr>
            )
          })}
          <tr><th>Precision</th>{m.precision.map((p, j) => <td key={j}>{pct(p)}</td>)}<td /><td /></tr>
        </tbody>
      </table>
    </div>
  )
}

function Results({ trainJob, evalJob, version }) {
  const [offset, setOffset] = useState(0)
  const [data, setData] = useState(null)
  const [error, setError] = useState(null)
  useEffect(() => {
    setError(null)
    api.get(`jobs/${q(evalJob ?? trainJob)}/evaluation?offset=${offset}&limit=${PAGE}`).then(setData)
      .catch((e) => { setData(null); setError(e.message) })
  }, [trainJob, evalJob, offset, version])
  if (error) return <p className="muted" data-testid="evaluation-none">{error}</p>
  if (!data) return <p>Loading…</p>
  const images = new Set(data.image_columns)
  return (
    <div className="results" data-testid="evaluation-results">
      <div className="chart-row">
        {Object.entries(data.confusion_matrices).map(([name, m]) => <ConfusionMatrix key={name} name={name} m={m} />)}
        {Object.entries(data.likelihood).map(([name, h]) => (
          <div key={name} className="chart-box">
            <div className="chart-title">Likelihood of {name} (confidence of the predicted class)</div>
            <Histogram bins={h.bins} testid="likelihood" xLabel="confidence" stacks={[
              { name: 'correct', counts: h.correct, color: '#2ca02c' },
              { name: 'wrong', counts: h.wrong, color: '#d62728' }]} />
          </div>
        ))}
      </div>
      <h3>Output result ({data.total} rows)</h3>
      <table className="data-table" data-testid="output-table">
        <thead><tr><th>#</th>{data.header.map((h) => <th key={h}>{h}</th>)}</tr></thead>
        <tbody>
          {data.rows.map((row, r) => (
            <tr key={data.offset + r}>
              <td>{data.offset + r + 1}</td>
              {row.map((cell, c) => (
                <td key={c}>
                  {images.has(c)
                    ? <img className="thumb" alt={cell} src={`api/jobs/${q(data.job)}/image?path=${q(cell)}&size=64`} />
                    : /^-?\d*\.\d{5,}/.test(cell) ? Number(cell).toFixed(4) : cell}
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

export function EvaluationScreen({ project, name }) {
  const [jobs, setJobs] = useState([])
  const [trainJob, setTrainJob] = useState(null)
  const [dataset, setDataset] = useState(project.executors[0]?.dataset ?? '')
  const [running, setRunning] = useState(null)
  const [evalJob, setEvalJob] = useState(null)
  const [version, setVersion] = useState(0)
  const [message, setMessage] = useState(null)

  const refresh = useCallback(() => api.get('jobs').then((all) => {
    const finished = all.filter((j) => j.kind === 'train' && j.project === name && j.state === 'finished')
      .sort((a, b) => b.created - a.created)
    setJobs(finished)
    setTrainJob((t) => t ?? finished[0]?.id ?? null)
  }).catch((e) => setMessage(e.message)), [name])
  useEffect(() => {
    refresh()
  }, [refresh])

  useEffect(() => {
    if (!running) return
    return followJob(running, {
      onDone: (state) => {
        setRunning(null)
        if (state !== 'finished') {
          api.get(`jobs/${q(running)}`).then((j) => setMessage(`evaluation ${state}: ${j.error ?? ''}`))
        }
        setEvalJob(running)
        setVersion((v) => v + 1)
      },
    })
  }, [running])

  const evaluate = async () => {
    setMessage(null)
    try {
      const job = await api.post(`jobs/${q(trainJob)}/evaluate`, dataset ? { dataset } : {})
      setRunning(job.id)
    } catch (e) {
      setMessage(e.message)
    }
  }
  return (
    <div className="evaluation-screen">
      <div className="toolbar">
        <label>Training job
          <select data-testid="evaluation-job" value={trainJob ?? ''} onChange={(e) => { setTrainJob(e.target.value); setEvalJob(null) }}>
            {jobs.map((j) => <option key={j.id} value={j.id}>{j.id} ({new Date(j.created * 1000).toLocaleString()})</option>)}
          </select>
        </label>
        <label>Dataset
          <select value={dataset} onChange={(e) => setDataset(e.target.value)}>
            {project.datasets.map((d) => <option key={d.name}>{d.name}</option>)}
          </select>
        </label>
        <button className="primary" data-testid="run-evaluation" disabled={!trainJob || !!running} onClick={evaluate}>
          {running ? 'Evaluating…' : 'Run evaluation'}
        </button>
        {trainJob && (
          <>
            <a className="button" data-testid="report-pptx" href={`api/jobs/${q(trainJob)}/report?format=pptx`} download>Report (pptx)</a>
            <a className="button" data-testid="report-html" href={`api/jobs/${q(trainJob)}/report?format=html`} download>Report (html)</a>
            <a className="button" href={`api/jobs/${q(trainJob)}/export/nnp`} download>Model (NNP)</a>
            <a className="button" href={`api/jobs/${q(trainJob)}/export/onnx`} download>Model (ONNX)</a>
          </>
        )}
      </div>
      {message && <pre className="message error" data-testid="evaluation-message">{message}</pre>}
      {!jobs.length && <p>No finished training job of this project yet.</p>}
      {trainJob && !running && <Results trainJob={trainJob} evalJob={evalJob} version={version} />}
    </div>
  )
}
