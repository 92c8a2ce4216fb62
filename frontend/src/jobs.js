// Job helpers shared by TRAINING and EVALUATION: live series from the SSE endpoint, merged by epoch.

/** Adds one point to {name: [[epoch, value], ...]}, replacing a point of the same epoch (a replayed stream). */
export function addPoint(series, name, epoch, value) {
  const points = (series[name] ?? []).filter(([e]) => e !== epoch)
  points.push([epoch, value])
  points.sort((a, b) => a[0] - b[0])
  return { ...series, [name]: points }
}

/**
 * Follows a job's events: onMetric(name, epoch, value), onState({state, progress}), onDone(state). Returns a function
 * that closes the stream. The stream is closed on `done`, since EventSource would otherwise reconnect and replay.
 */
export function followJob(jobId, { onMetric, onState, onDone }) {
  const source = new EventSource(`api/jobs/${encodeURIComponent(jobId)}/events`)
  source.addEventListener('metric', (e) => {
    const m = JSON.parse(e.data)
    onMetric?.(m.name, m.epoch, m.value)
  })
  source.addEventListener('state', (e) => onState?.(JSON.parse(e.data)))
  source.addEventListener('done', (e) => {
    source.close()
    onDone?.(JSON.parse(e.data).state)
  })
  return () => source.close()
}

export const ACTIVE = ['queued', 'running']
