"""``nnl train``: train what an nntxt/NNP configuration describes, with nnabla_cli's semantics.

Per iteration, each optimizer active at that iteration (``start_iter``/``end_iter``) takes the next batch of its
datasets (``data_variable``: network variable <- dataset column; reserved names ``%iter``, ``%max_iter``,
``%epoch``, ``%epochf``, ``%max_epoch``, ``%progress``), fills its generator variables (``Normal``, ``Uniform``,
``Constant``), runs forward and backward of its loss variables (gradient ``1 / loss size``, so per-sample losses are
averaged), and every ``update_interval`` iterations applies weight decay, the learning-rate schedule and the update.
After each epoch the monitors are evaluated (every ``monitor_interval`` epochs, the first five and the last): each
takes the next ``size // batch_size`` batches of its datasets from iterators that continue from one evaluation to
the next, as nnabla_cli's do. The best ``valid_error`` is kept in ``results.nnp`` (``save_best``; otherwise the
latest evaluated model), and a checkpoint ``results_current_<epoch>.nnp`` makes ``--resume`` continue exactly where
the run stopped. Before the first step every dataset is opened and one example of each column is checked against
the shape of the network variable it feeds.

Outputs in ``outdir``: ``monitoring_report.yml``, ``results.nnp``, ``results_current_<epoch>.nnp``, the learning
curves as ``<name>.series.txt`` (``cost``, then each monitor) and ``learning_curve.png``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nnl
import nnl.functions as F
from nnl.core.random import function_rng
from nnl.nnp.load import Info, load
from nnl.parameter import clear_parameters
from nnl.parameter_io import load_parameters
from nnl.training import checkpoint, report

__all__ = ["Trainer", "train"]

_RESERVED = ("%iter", "%max_iter", "%epoch", "%epochf", "%max_epoch", "%progress")


@dataclass
class TrainResult:
    """What a finished run reports: per-epoch costs and monitor errors, the best error and its epoch."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_error: float | None = None
    best_epoch: int | None = None
    completed: bool = False


class _Feeds:
    """Data iterators by dataset name, made once per run from the configuration's datasets.

    As in nnabla_cli, the optimizers share one iterator per dataset and the monitors another, which each evaluation
    continues (it takes the next batches, so over the epochs a monitor sees every example).
    """

    def __init__(self, info: Info, config_dir: str, seed: int, comm: Any) -> None:
        self.info, self.config_dir, self.seed, self.comm = info, config_dir, seed, comm
        self.training: dict[str, Any] = {}
        self.monitoring: dict[str, Any] = {}
        self._examples: dict[str, dict[str, np.ndarray]] = {}

    def uri(self, name: str) -> str:
        if name not in self.info.datasets:
            raise ValueError(f"train: the configuration refers to dataset {name!r}, which it does not define.")
        d = self.info.datasets[name]
        if not d.uri.strip():
            raise ValueError(f"train: dataset {name!r} has an empty uri.")
        uri = d.uri
        if not os.path.isabs(uri) and not os.path.exists(uri):  # relative: to the working folder, else the config's
            uri = os.path.join(self.config_dir, uri)
        if not os.path.exists(uri):
            raise FileNotFoundError(f"train: dataset {name!r}: {uri!r} does not exist.")
        return uri

    def make(self, name: str, rng: np.random.RandomState) -> Any:
        from nnl.utils.data_iterator import data_iterator_csv_dataset

        uri, d = self.uri(name), self.info.datasets[name]
        iterator = data_iterator_csv_dataset(uri, d.batch_size, d.shuffle, rng=rng,
                                             normalize=not d.no_image_normalization, with_file_cache=False)
        if self.comm is not None and self.comm.size > 1:
            iterator = iterator.slice(rng=np.random.RandomState(self.seed), num_of_slices=self.comm.size,
                                      slice_pos=self.comm.rank)
        return iterator

    def for_training(self, name: str) -> Any:
        if name not in self.training:
            self.training[name] = self.make(name, np.random.RandomState(self.seed + len(self.training)))
        return self.training[name]

    def for_monitor(self, name: str) -> Any:
        if name not in self.monitoring:
            # seeded apart from the training iterators: a shuffled dataset's two iterators draw different orders
            self.monitoring[name] = self.make(name, np.random.RandomState(self.seed + 10_000 + len(self.monitoring)))
        return self.monitoring[name]

    def example(self, name: str) -> dict[str, np.ndarray]:
        """The first example of dataset ``name`` by column, as its iterator would load it (for the shape checks)."""
        if name not in self._examples:
            from nnl.utils.data_source_implements import CsvDataSource

            source = CsvDataSource(self.uri(name), normalize=not self.info.datasets[name].no_image_normalization)
            try:
                self._examples[name] = dict(zip(source.variables, source._get_data(0)))
            finally:
                source.close()
        return self._examples[name]

    def close(self) -> None:
        for iterator in [*self.training.values(), *self.monitoring.values()]:
            iterator.close()


def _reserved(name: str, iteration: int, iter_per_epoch: int, max_epoch: int) -> float:
    return {
        "%iter": iteration,
        "%max_iter": max_epoch * iter_per_epoch,
        "%epoch": iteration // iter_per_epoch,
        "%epochf": iteration / iter_per_epoch,
        "%max_epoch": max_epoch,
        "%progress": iteration / iter_per_epoch / max_epoch,
    }[name]


class Trainer:
    """One training run of a configuration file (see the module docstring)."""

    def __init__(
        self,
        config: str,
        outdir: str,
        context: str | None = None,
        param: str | None = None,
        seed: int = 0,
        progress: bool = True,
        comm: Any = None,
    ) -> None:
        self.config, self.outdir, self.seed, self.progress, self.comm = config, outdir, seed, progress, comm
        self.elapsed_before = 0.0  # training seconds of the runs this one resumes
        self.started = time.perf_counter()
        os.makedirs(outdir, exist_ok=True)
        clear_parameters()
        nnl.seed(seed)
        comm_size = comm.size if comm is not None else 1
        # Parameters start from the values the configuration holds, else from its initializers.
        self.info = load([config], context=context, comm_size=comm_size)
        if param:
            load_parameters(param)
        t = self.info.training_config
        if t is None or not self.info.optimizers:
            raise ValueError(f"train: {config!r} has no training_config or no optimizer to train with.")
        self.max_epoch = int(t.max_epoch)
        self.iter_per_epoch = int(t.iter_per_epoch) // comm_size
        self.monitor_interval = max(int(t.monitor_interval), 1)
        self.save_best = bool(t.save_best)
        self.generator_rng = np.random.RandomState(seed + 1000)
        self.feeds = _Feeds(self.info, os.path.dirname(os.path.abspath(config)), seed, comm)
        self.losses = {name: self._loss(o) for name, o in self.info.optimizers.items()}
        self._check_data()
        if comm is not None and comm.size > 1:  # every process starts from rank 0's parameters
            comm.bcast([p.data for p in nnl.get_parameters(grad_only=False).values()], src=0, inplace=True)

    @property
    def rank0(self) -> bool:
        return self.comm is None or self.comm.rank == 0

    def _check_data(self) -> None:
        """Open every dataset the run reads and check the columns it is asked for and their shapes, before any
        training step."""
        checks = [(f"optimizer {n!r}", o.dataset_names, o.data_variables, o.network, self.feeds.for_training)
                  for n, o in self.info.optimizers.items()]
        checks += [(f"monitor {n!r}", m.dataset_names, m.data_variables, m.network, self.feeds.for_monitor)
                   for n, m in self.info.monitors.items()]
        for owner, datasets, data_variables, network, iterator_of in checks:
            providers: dict[str, Any] = {}  # column -> (dataset, iterator); the last dataset wins, as in a step
            for name in datasets:
                iterator = iterator_of(name)
                providers.update((column, (name, iterator)) for column in iterator.variables)
            for var_name, data_name in data_variables.items():
                if var_name not in network.variables:
                    raise ValueError(f"train: {owner}: data variable {var_name!r} is not in network "
                                     f"{network.name!r}.")
                if data_name in _RESERVED:
                    continue
                if data_name not in providers:
                    raise ValueError(f"train: {owner}: variable {var_name!r} wants column {data_name!r}, which "
                                     f"datasets {datasets} do not have (they have {sorted(providers)}).")
                dataset, iterator = providers[data_name]
                self._check_shape(owner, dataset, iterator.batch_size, data_name, network, var_name)

    def _check_shape(self, owner: str, dataset: str, batch_size: int, data_name: str, network: Any,
                     var_name: str) -> None:
        """A batch of ``data_name`` must fit ``var_name``: the same shape, or the same size (it is reshaped)."""
        example = self.feeds.example(dataset)[data_name]
        batch = (int(batch_size), *example.shape)
        var = network.variables[var_name]
        if batch != tuple(var.shape) and math.prod(batch) != var.size:
            raise ValueError(
                f"train: {owner}: dataset {dataset!r} ({self.feeds.uri(dataset)}) column {data_name!r} holds "
                f"examples of shape {tuple(example.shape)} (batches of {batch}), but network {network.name!r} "
                f"variable {var_name!r} has shape {tuple(var.shape)} (examples of {tuple(var.shape[1:])}).")

    # -- one iteration ----------------------------------------------------------------------------------------
    def _loss(self, o: Any) -> tuple[Any, list[Any]]:
        network = o.network
        names = o.loss_variables or list(network.outputs)
        try:
            variables = [network.variables[n] for n in names]
        except KeyError as e:
            raise ValueError(f"train: optimizer {o.name!r}: loss variable {e} is not in network "
                             f"{network.name!r}.") from None
        target = variables[0] if len(variables) == 1 else F.sink(*variables, one_input_grad=False)
        return target, variables

    def _fill(self, network: Any, data_variables: dict[str, str], generators: dict[str, tuple[str, float]],
              data: dict[str, np.ndarray], iteration: int, owner: str) -> None:
        for var_name, data_name in data_variables.items():
            if var_name not in network.variables:
                raise ValueError(f"train: {owner}: data variable {var_name!r} is not in network {network.name!r}.")
            var = network.variables[var_name]
            if data_name in _RESERVED:
                var.d = _reserved(data_name, iteration, self.iter_per_epoch, self.max_epoch)
            elif data_name in data:
                value = data[data_name]
                if tuple(value.shape) != tuple(var.shape):
                    value = value.reshape(var.shape) if value.size == var.size else value
                if tuple(value.shape) != tuple(var.shape):
                    raise ValueError(f"train: {owner}: dataset column {data_name!r} gives shape {tuple(value.shape)}"
                                     f" but variable {var_name!r} has shape {tuple(var.shape)}.")
                var.d = value
            else:
                raise ValueError(f"train: {owner}: variable {var_name!r} wants column {data_name!r}, which the "
                                 f"dataset does not have (it has {sorted(data)}).")
        for var_name, (kind, multiplier) in generators.items():
            var = network.variables[var_name]
            if kind == "Normal":
                var.d = self.generator_rng.randn(*var.shape) * multiplier
            elif kind == "Uniform":
                var.d = self.generator_rng.uniform(-multiplier, multiplier, var.shape)
            elif kind == "Constant":
                var.d = multiplier
            else:
                raise ValueError(f"train: {owner}: generator {var_name!r} has unknown type {kind!r}.")

    def _active(self, o: Any, iteration: int) -> bool:
        return (o.start_iter == 0 or iteration + 1 >= o.start_iter) and (o.end_iter == 0 or iteration + 1 <= o.end_iter)

    def _batches(self, o: Any, loaded: dict[str, tuple]) -> dict[str, np.ndarray]:
        data: dict[str, np.ndarray] = {}
        for name in o.dataset_names:
            iterator = self.feeds.for_training(name)
            if name not in loaded:
                loaded[name] = iterator.next()
            data.update(zip(iterator.variables, loaded[name]))
        return data

    def step(self, iteration: int) -> float | None:
        """Run one iteration of every active optimizer; the mean loss of the first (for the learning curve)."""
        loaded: dict[str, tuple] = {}
        cost = None
        for name, o in self.info.optimizers.items():
            if not self._active(o, iteration):
                continue
            data = self._batches(o, loaded)
            self._fill(o.network, o.data_variables, o.generator_variables, data, iteration, f"optimizer {name!r}")
            target, losses = self.losses[name]
            target.forward(clear_no_need_grad=True)
            if cost is None:
                cost = float(sum(np.mean(v.d) for v in losses))
            if iteration % o.update_interval == 0:
                o.solver.zero_grad()
            for v in losses:
                v.grad.fill(1.0 / losses[0].size)
            target.backward(grad=None, clear_buffer=True)
            if self.comm is not None and self.comm.size > 1 and iteration % o.update_interval == o.update_interval - 1:
                self.comm.all_reduce([p.grad for p in o.solver.get_parameters().values()], division=True,
                                     inplace=True)
            if iteration % o.update_interval == o.update_interval - 1:
                if o.weight_decay > 0:
                    o.solver.weight_decay(o.weight_decay)
                o.solver.set_learning_rate(o.scheduler.get_learning_rate(iteration))
                o.solver.update()
        return cost

    def skip(self, iteration: int) -> None:
        """Consume the batches ``step(iteration)`` would (to resume with the data order of an uninterrupted run)."""
        loaded: dict[str, tuple] = {}
        for o in self.info.optimizers.values():
            if self._active(o, iteration):
                self._batches(o, loaded)

    # -- evaluation ---------------------------------------------------------------------------------------------
    def _evaluated(self, epoch: int) -> bool:
        return epoch % self.monitor_interval == 0 or epoch <= 5 or epoch == self.max_epoch

    def _monitor_batches(self, m: Any) -> tuple[list[Any], int]:
        """A monitor's iterators and how many batches one evaluation takes: nnabla_cli's ``size // batch_size``
        (largest of its datasets), at least one so that a dataset smaller than a batch is still evaluated."""
        iterators = [self.feeds.for_monitor(d) for d in m.dataset_names]
        size = max(it.size for it in iterators)
        batch_size = max(it.batch_size for it in iterators)
        return iterators, max(1, size // batch_size)

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Mean of each monitor's variables over the next ``size // batch_size`` batches of its datasets."""
        errors: dict[str, float] = {}
        for name, m in self.info.monitors.items():
            total, count = 0.0, 0
            network = m.network
            outputs = [network.variables[v] for v in m.monitor_variables]
            target = outputs[0] if len(outputs) == 1 else F.sink(*outputs, one_input_grad=False)
            iterators, batches = self._monitor_batches(m)
            for _ in range(batches):
                data: dict[str, np.ndarray] = {}
                for iterator in iterators:
                    data.update(zip(iterator.variables, iterator.next()))
                self._fill(network, m.data_variables, m.generator_variables, data, epoch, f"monitor {name!r}")
                with nnl.no_grad():
                    target.forward(clear_buffer=True)
                total += float(sum(np.mean(v.d) for v in outputs))
                count += 1
            if self.comm is not None and self.comm.size > 1:  # each process saw its slice: combine
                sums = np.array([total, count], dtype=np.float64)
                self.comm.all_reduce(sums, division=False, inplace=True)
                total, count = float(sums[0]), int(sums[1])
            error = total / count if count else 0.0
            errors[name] = 0.0 if not np.isfinite(error) else error
        return errors

    def skip_evaluation(self) -> None:
        """Consume the batches ``evaluate`` would (to resume with the monitors where an uninterrupted run has them)."""
        for m in self.info.monitors.values():
            iterators, batches = self._monitor_batches(m)
            for _ in range(batches):
                for iterator in iterators:
                    iterator.next()

    # -- the run --------------------------------------------------------------------------------------------------
    def _state(self, iteration: int, result: TrainResult) -> dict[str, Any]:
        return {
            "iteration": iteration,
            "history": result.history,
            "best_error": result.best_error,
            "best_epoch": result.best_epoch,
            "function_rng": checkpoint.rng_state(function_rng()),
            "generator_rng": checkpoint.rng_state(self.generator_rng),
            "elapsed": self.elapsed_before + time.perf_counter() - self.started,
        }

    def _resume(self, result: TrainResult) -> int:
        found = checkpoint.latest_checkpoint(self.outdir)
        if found is None:
            return 0
        _, path = found
        load_parameters(path)
        state = checkpoint.read_checkpoint(path, self.info.optimizers)
        result.history = state["history"]
        result.best_error, result.best_epoch = state["best_error"], state["best_epoch"]
        checkpoint.set_rng_state(function_rng(), state["function_rng"])
        checkpoint.set_rng_state(self.generator_rng, state["generator_rng"])
        self.elapsed_before = float(state.get("elapsed", 0.0))
        iteration = int(state["iteration"])
        for it in range(iteration):
            self.skip(it)
            if (it + 1) % self.iter_per_epoch == 0 and self._evaluated((it + 1) // self.iter_per_epoch):
                self.skip_evaluation()
        return iteration

    def _end_of_epoch(self, epoch: int, iteration: int, costs: list[float], result: TrainResult) -> None:
        entry: dict[str, float] = {"cost": float(np.mean(costs)) if costs else 0.0}
        save_model = False
        if self._evaluated(epoch):
            entry.update(self.evaluate(epoch))
            error = entry.get("valid_error")
            if self.rank0 and (not self.save_best or error is None or result.best_error is None
                               or error <= result.best_error):
                if error is not None:
                    result.best_error, result.best_epoch = error, epoch
                save_model = True
        result.history.append(entry)
        if self.rank0:
            try:
                if save_model:
                    checkpoint.save_results(os.path.join(self.outdir, "results.nnp"), self.info.proto)
                path = os.path.join(self.outdir, f"results_current_{epoch}.nnp")
                checkpoint.save_results(path, self.info.proto, self.info.optimizers, self._state(iteration, result))
                checkpoint.remove_older_checkpoints(self.outdir, path)
                report.write_report(self.outdir, result.history)
            except OSError as e:  # a full disk, say: every file is written atomically, so the older ones are whole
                found = checkpoint.latest_checkpoint(self.outdir)
                kept = (f"the checkpoint of epoch {found[0]} ({found[1]}) is intact: free some space and continue "
                        "with --resume" if found else "no checkpoint was written yet")
                raise OSError(e.errno, f"train: epoch {epoch}: cannot save the results: {e.strerror}; {kept}.") from e

    def run(self, resume: bool = False) -> TrainResult:
        result = TrainResult()
        max_iter = self.max_epoch * self.iter_per_epoch
        start = self._resume(result) if resume else 0
        self.started = time.perf_counter()
        bar = report.progress_bar(max_iter, start, self.progress and self.rank0)
        costs: list[float] = []
        try:
            for iteration in range(start, max_iter):
                cost = self.step(iteration)
                if cost is not None:
                    if not np.isfinite(cost):
                        raise FloatingPointError(f"train: the cost became {cost} at iteration {iteration}.")
                    costs.append(cost)
                    bar.set_postfix(cost=f"{cost:.4f}", refresh=False)
                bar.update(1)
                if (iteration + 1) % self.iter_per_epoch == 0:
                    self._end_of_epoch((iteration + 1) // self.iter_per_epoch, iteration + 1, costs, result)
                    costs = []
        finally:
            bar.close()
            self.feeds.close()
        if self.rank0 and not os.path.exists(os.path.join(self.outdir, "results.nnp")):
            checkpoint.save_results(os.path.join(self.outdir, "results.nnp"), self.info.proto)
        result.completed = True
        return result


def train(config: str, outdir: str, resume: bool = False, **options: Any) -> TrainResult:
    """Train ``config`` into ``outdir`` (options: context, param, seed, progress, comm)."""
    return Trainer(config, outdir, **options).run(resume=resume)

