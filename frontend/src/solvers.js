// NNC's solvers and their hyper-parameters with defaults (names as .sdcproj stores them; nnabla's defaults).

export const SOLVERS = {
  AdaBelief: { Alpha: '0.001', Beta1: '0.9', Beta2: '0.999', Epsilon: '1e-08', 'Weight Decay': '0', AMSGrad: '0',
    'WD Decouple': '0', 'Fixed Decay': '0', Rectify: '0' },
  Adadelta: { LearningRate: '1.0', Decay: '0.95', Epsilon: '1e-06' },
  Adagrad: { LearningRate: '0.01', Epsilon: '1e-08' },
  Adam: { Alpha: '0.001', Beta1: '0.9', Beta2: '0.999', Epsilon: '1e-08' },
  AdamW: { Alpha: '0.001', Beta1: '0.9', Beta2: '0.999', Epsilon: '1e-08', 'Weight Decay': '0.0001' },
  Adamax: { Alpha: '0.002', Beta1: '0.9', Beta2: '0.999', Epsilon: '1e-08' },
  AdaBound: { Alpha: '0.001', Beta1: '0.9', Beta2: '0.999', Epsilon: '1e-08', FinalLR: '0.1', Gamma: '0.001' },
  AMSGRAD: { Alpha: '0.001', Beta1: '0.9', Beta2: '0.999', Epsilon: '1e-08' },
  AMSBound: { Alpha: '0.001', Beta1: '0.9', Beta2: '0.999', Epsilon: '1e-08', FinalLR: '0.1', Gamma: '0.001' },
  Lars: { LearningRate: '0.001', Momentum: '0.9', Coefficient: '0.001', Epsilon: '1e-06' },
  Momentum: { LearningRate: '0.001', Momentum: '0.9' },
  Nesterov: { LearningRate: '0.001', Momentum: '0.9' },
  RMSprop: { LearningRate: '0.001', Decay: '0.9', Epsilon: '1e-08' },
  Sgd: { LearningRate: '0.001' },
  SgdW: { LearningRate: '0.001', Momentum: '0.9', 'Weight Decay': '0.0001' },
}

export const SCHEDULERS = ['Exponential', 'Step', 'Cosine', 'Polynomial']

/** Parameters after a solver change: the new solver's defaults, keeping values of parameters both share. */
export function switchSolver(parameters, solver) {
  const defaults = SOLVERS[solver]
  return Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, parameters?.[k] ?? v]))
}
