// CONFIG: global settings, optimizers (solver, scheduler, warm-up, update interval), monitors and executors.
import { useState } from 'react'
import { SOLVERS, SCHEDULERS, switchSolver } from './solvers.js'

function Field({ label, children }) {
  return <label className="field"><span>{label}</span>{children}</label>
}

function NumberInput({ value, onChange, integer = false, min, testid }) {
  const [draft, setDraft] = useState(null)
  const text = draft ?? String(value ?? '')
  const parsed = Number(text)
  const invalid = text.trim() === '' || !Number.isFinite(parsed) || (integer && !Number.isInteger(parsed))
    || (min !== undefined && parsed < min)
  return (
    <input data-testid={testid} className={invalid ? 'invalid' : ''} value={text}
      title={invalid ? `expected ${integer ? 'an integer' : 'a number'}${min !== undefined ? ` >= ${min}` : ''}` : ''}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={() => {
        if (!invalid) onChange(parsed)
        setDraft(null)
      }} />
  )
}

const select = (value, options, onChange, testid) => (
  <select data-testid={testid} value={value} onChange={(e) => onChange(e.target.value)}>
    {!options.includes(value) && <option>{value}</option>}
    {options.map((o) => <option key={o}>{o}</option>)}
  </select>
)

function ListEditor({ title, items, render, onChange, make }) {
  const [index, setIndex] = useState(0)
  const i = Math.min(index, items.length - 1)
  return (
    <section className="config-section">
      <h3>{title}</h3>
      <div className="chips">
        {items.map((it, k) => (
          <span key={k} className={`chip${k === i ? ' active' : ''}`} onClick={() => setIndex(k)}>{it.name}</span>
        ))}
        <button onClick={() => { onChange([...items, make(items.length)]); setIndex(items.length) }}>Add</button>
        {items.length > 0 && <button onClick={() => { onChange(items.filter((_, k) => k !== i)); setIndex(0) }}>Remove</button>}
      </div>
      {i >= 0 && items[i] && render(items[i], (patch) => onChange(items.map((it, k) => (k === i ? { ...it, ...patch } : it))))}
    </section>
  )
}

export function ConfigScreen({ project, change }) {
  const config = project.config
  const setConfig = (patch) => change({ ...project, config: { ...config, ...patch } })
  const networks = [...new Set([...project.networks.map((n) => n.name),
    ...project.networks.flatMap((n) => [`${n.name}Validation`, `${n.name}Runtime`])])]
  const datasets = project.datasets.map((d) => d.name)
  const common = (item, set) => (
    <>
      <Field label="Name"><input value={item.name} onChange={(e) => set({ name: e.target.value })} /></Field>
      <Field label="Network">{select(item.network, networks, (v) => set({ network: v }))}</Field>
      <Field label="Dataset">{select(item.dataset, datasets, (v) => set({ dataset: v }))}</Field>
    </>
  )
  return (
    <div className="config-screen">
      <section className="config-section">
        <h3>Global config</h3>
        <Field label="Description">
          <textarea value={project.description ?? ''} onChange={(e) => change({ ...project, description: e.target.value })} />
        </Field>
        <Field label="Max epoch"><NumberInput testid="config-max_epoch" integer min={1} value={config.max_epoch}
          onChange={(v) => setConfig({ max_epoch: v })} /></Field>
        <Field label="Batch size"><NumberInput testid="config-batch_size" integer min={1} value={config.batch_size}
          onChange={(v) => setConfig({ batch_size: v })} /></Field>
        <Field label="Monitor interval (epochs)"><NumberInput testid="config-monitor_interval" integer min={1} value={config.monitor_interval}
          onChange={(v) => setConfig({ monitor_interval: v })} /></Field>
        <Field label="Precision">{select(config.type_config, ['float', 'half'], (v) => setConfig({ type_config: v }), 'config-precision')}</Field>
        <Field label="Save best"><input type="checkbox" checked={!!config.save_best}
          onChange={(e) => setConfig({ save_best: e.target.checked })} /></Field>
      </section>
      <ListEditor title="Optimizers" items={project.optimizers} onChange={(optimizers) => change({ ...project, optimizers })}
        make={(n) => ({ name: `Optimizer${n + 1}`, network: networks[0], dataset: datasets[0] ?? '', solver: 'Adam',
          solver_parameters: { ...SOLVERS.Adam }, update_interval: 1, weight_decay: 0,
          lr_scheduler: { type: 'Exponential', multiplier: 1, update_interval: 1, update_interval_unit: 'iteration', power: 1, steps: [] },
          warmup: { type: 'None', length: 0, unit: 'epoch' }, range_from: -1, range_to: -1, range_unit: 'epoch' })}
        render={(opt, set) => {
          const sched = opt.lr_scheduler ?? { type: 'Exponential' }
          const warm = opt.warmup ?? { type: 'None' }
          const setSched = (patch) => set({ lr_scheduler: { ...sched, ...patch } })
          const setWarm = (patch) => set({ warmup: { ...warm, ...patch } })
          return (
            <div className="form-grid">
              {common(opt, set)}
              <Field label="Solver">{select(opt.solver, Object.keys(SOLVERS),
                (v) => set({ solver: v, solver_parameters: switchSolver(opt.solver_parameters, v) }), 'config-solver')}</Field>
              {Object.entries(opt.solver_parameters ?? {}).map(([k, v]) => (
                <Field key={`${opt.solver}${k}`} label={k}><NumberInput testid={`solver-${k}`} value={v}
                  onChange={(x) => set({ solver_parameters: { ...opt.solver_parameters, [k]: String(x) } })} /></Field>
              ))}
              <Field label="Weight decay"><NumberInput min={0} value={opt.weight_decay} onChange={(v) => set({ weight_decay: v })} /></Field>
              <Field label="Update interval (gradient accumulation)"><NumberInput integer min={1} value={opt.update_interval}
                onChange={(v) => set({ update_interval: v })} /></Field>
              <Field label="LR scheduler">{select(sched.type, SCHEDULERS, (v) => setSched({ type: v }))}</Field>
              {(sched.type === 'Exponential' || sched.type === 'Step') && (
                <Field label="LR multiplier"><NumberInput value={sched.multiplier} onChange={(v) => setSched({ multiplier: v })} /></Field>
              )}
              {sched.type === 'Exponential' && (
                <Field label="LR update interval"><NumberInput min={1} value={sched.update_interval}
                  onChange={(v) => setSched({ update_interval: v })} /></Field>
              )}
              {sched.type !== 'Cosine' && sched.type !== 'Polynomial' && (
                <Field label="Interval unit">{select(sched.update_interval_unit ?? 'epoch', ['epoch', 'iteration'],
                  (v) => setSched({ update_interval_unit: v }))}</Field>
              )}
              {sched.type === 'Step' && (
                <Field label="Steps (comma separated)"><input defaultValue={(sched.steps ?? []).join(',')}
                  onBlur={(e) => setSched({ steps: e.target.value.split(',').map(Number).filter((x) => Number.isFinite(x) && x > 0) })} /></Field>
              )}
              {sched.type === 'Polynomial' && (
                <Field label="Power"><NumberInput value={sched.power} onChange={(v) => setSched({ power: v })} /></Field>
              )}
              <Field label="Effective from (-1: start)"><NumberInput integer min={-1} value={opt.range_from ?? -1}
                onChange={(v) => set({ range_from: v })} /></Field>
              <Field label="Effective to (-1: end)"><NumberInput integer min={-1} value={opt.range_to ?? -1}
                onChange={(v) => set({ range_to: v })} /></Field>
              <Field label="Range unit">{select(opt.range_unit ?? 'epoch', ['epoch', 'iteration'], (v) => set({ range_unit: v }))}</Field>
              <Field label="Warm-up">{select(warm.type, ['None', 'Linear'], (v) => setWarm({ type: v }))}</Field>
              {warm.type === 'Linear' && (
                <>
                  <Field label="Warm-up length"><NumberInput min={0} value={warm.length} onChange={(v) => setWarm({ length: v })} /></Field>
                  <Field label="Warm-up unit">{select(warm.unit ?? 'epoch', ['epoch', 'iteration'], (v) => setWarm({ unit: v }))}</Field>
                </>
              )}
            </div>
          )
        }} />
      <ListEditor title="Monitors" items={project.monitors} onChange={(monitors) => change({ ...project, monitors })}
        make={(n) => ({ name: `monitor${n + 1}`, network: networks[0], dataset: datasets[0] ?? '' })}
        render={(m, set) => <div className="form-grid">{common(m, set)}</div>} />
      <ListEditor title="Executors" items={project.executors} onChange={(executors) => change({ ...project, executors })}
        make={(n) => ({ name: `Executor${n + 1}`, network: networks[0], dataset: datasets[0] ?? '', num_evaluations: 1,
          repeat_evaluation_type: 'mean', need_back_propagation: false })}
        render={(ex, set) => (
          <div className="form-grid">
            {common(ex, set)}
            <Field label="Number of evaluations"><NumberInput integer min={1} value={ex.num_evaluations}
              onChange={(v) => set({ num_evaluations: v })} /></Field>
            <Field label="Adopt result">{select(ex.repeat_evaluation_type, ['mean', 'last', 'std'],
              (v) => set({ repeat_evaluation_type: v }))}</Field>
            <Field label="Need back propagation"><input type="checkbox" checked={!!ex.need_back_propagation}
              onChange={(e) => set({ need_back_propagation: e.target.checked })} /></Field>
          </div>
        )} />
    </div>
  )
}
