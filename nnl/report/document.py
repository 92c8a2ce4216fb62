"""The report's content, independent of its format: sections of pages of text, tables and pictures.

``build_document(job)`` decides what the report says; ``html_writer`` and ``pptx_writer`` only lay it out (a page is
a slide, or a few when a table or a text is too long for one; in HTML each section is one ``<section>``).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

from nnl.report import figures
from nnl.report.job import Job, example_images
from nnl.report.network import NetworkStatistics, network_statistics
from nnl.report.references import layer_reference

__all__ = ["Text", "Table", "Picture", "Page", "Section", "Document", "build_document"]


@dataclass
class Text:
    """Lines of text, each a paragraph (a bullet point on a slide)."""

    lines: list[str]


@dataclass
class Table:
    """A table of strings; ``numeric`` columns are right-aligned."""

    header: list[str]
    rows: list[list[str]]
    numeric: tuple[int, ...] = ()


@dataclass
class Picture:
    """A PNG image with its caption (also its alternative text)."""

    png: bytes
    caption: str


Block = Text | Table | Picture


@dataclass
class Page:
    subtitle: str
    blocks: list[Block]


@dataclass
class Section:
    key: str
    title: str
    pages: list[Page] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: list[str]
    sections: list[Section]


def _number(value: float) -> str:
    return f"{value:.6g}"


def _count(value: int) -> str:
    return f"{value:,}"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")" if shape else "()"


# -- dataset ------------------------------------------------------------------------------------------------------
def _training_dataset(job: Job) -> str | None:
    for optimizer in job.nnp.proto.optimizer:
        for name in optimizer.dataset_name:
            return str(name)
    return job.datasets[0].name if job.datasets else None


def _dataset_section(job: Job) -> Section:
    section = Section("dataset", "Dataset")
    if not job.datasets:
        section.pages.append(Page("", [Text(["The configuration defines no dataset."])]))
        return section
    rows, notes = [], []
    for d in job.datasets:
        variables = "; ".join(f"{c.name}: {c.kind} {_shape(c.shape)}" if c.shape else f"{c.name}: {c.kind}"
                              for c in d.columns)
        rows.append([d.name, d.path or d.uri, _count(d.rows) if d.path else "-", variables or "-",
                     str(d.batch_size), "yes" if d.shuffle else "no", "1/255" if d.image_normalization else "none"])
        if d.path is None:
            notes.append(f"Dataset {d.name!r}: file {d.uri!r} not found (from the current folder or the job folder); "
                         "its size and columns are unknown.")
    table = Table(["Dataset", "File", "Rows", "Variables", "Batch size", "Shuffle", "Image normalization"], rows,
                  numeric=(2, 4))
    blocks: list[Block] = [table]
    if notes:
        blocks.append(Text(notes))
    section.pages.append(Page("Datasets", blocks))
    name = _training_dataset(job)
    dataset = next((d for d in job.datasets if d.name == name), None)
    examples = example_images(dataset) if dataset is not None else []
    if dataset is not None and examples:
        label = next((c.name for c in dataset.columns if c.kind == "scalar"), "")
        caption = f"{len(examples)} random examples of dataset {dataset.name!r} ({os.path.basename(dataset.path or '')})"
        section.pages.append(Page(f"Examples of {dataset.name}", [Picture(figures.example_grid(examples, label),
                                                                          caption)]))
    return section


# -- network ------------------------------------------------------------------------------------------------------
def _reported_networks(job: Job) -> list[str]:
    """The networks an executor runs (what the model is used as), else those the optimizers train."""
    proto = job.nnp.proto
    names = [e.network_name for e in proto.executor] or [o.network_name for o in proto.optimizer]
    known = {n.name for n in proto.network}
    return [n for n in dict.fromkeys(names) if n in known] or [proto.network[0].name]


def _network_pages(stats: NetworkStatistics) -> list[Page]:
    inputs = ", ".join(f"{name} {_shape(shape)}" for name, shape in stats.inputs.items())
    summary = Text([
        f"Network {stats.name!r}: {len(stats.layers)} functions.",
        f"Inputs (per sample): {inputs or 'none'}.",
        f"Parameters: {_count(stats.total_parameters)}.",
        f"Multiply-adds per sample: {_count(stats.total_macs)} (Affine, Convolution, Deconvolution, BatchMatmul).",
    ])
    diagram = Picture(figures.architecture(stats), f"Network {stats.name!r}: functions in execution order with "
                                                   "their per-sample output shapes")
    rows = [[str(i), layer.name, layer.type, _shape(layer.output_shape), _count(layer.parameters), _count(layer.macs)]
            for i, layer in enumerate(stats.layers, start=1)]
    rows.append(["", "Total", "", "", _count(stats.total_parameters), _count(stats.total_macs)])
    table = Table(["#", "Function", "Type", "Output shape", "Parameters", "Multiply-adds"], rows, numeric=(0, 4, 5))
    return [Page(stats.name, [diagram, summary]), Page(f"{stats.name} statistics (per sample)", [table])]


def _network_section(job: Job, statistics: list[NetworkStatistics]) -> Section:
    section = Section("network", "Network architecture")
    for stats in statistics:
        section.pages.extend(_network_pages(stats))
    return section


# -- training procedure ---------------------------------------------------------------------------------------------
def _schedule(solver: Any) -> str:
    kind = solver.lr_scheduler_type
    if kind == "Step":
        p = solver.step_scheduler_param
        text = f"step: multiplied by {_number(p.gamma)} at iterations {list(p.iter_steps)}"
    elif kind == "Exponential":
        p = solver.exponential_scheduler_param
        text = f"exponential: multiplied by {_number(p.gamma)} every {p.iter_interval} iterations"
    elif kind == "Polynomial":
        p = solver.polynomial_scheduler_param
        text = f"polynomial decay to 0 over {_number(p.max_iter)} iterations (power {_number(p.power)})"
    elif kind == "Cosine":
        text = f"cosine decay to 0 over {_number(solver.cosine_scheduler_param.max_iter)} iterations"
    elif kind == "" and solver.lr_decay not in (0.0, 1.0) and solver.lr_decay_interval > 0:
        text = f"multiplied by {_number(solver.lr_decay)} every {solver.lr_decay_interval} iterations"
    elif kind == "":
        text = "constant"
    else:
        text = kind
    if solver.lr_warmup_scheduler_type == "Linear":
        text += f", after a linear warm-up of {solver.linear_warmup_scheduler_param.warmup_iter} iterations"
    return text


def _solver_parameters(solver: Any) -> list[tuple[str, str]]:
    oneof = solver.WhichOneof("parameter")
    if oneof is None:
        return []
    message = getattr(solver, oneof)
    return [(f.name, _number(getattr(message, f.name))) for f in message.DESCRIPTOR.fields]


def _elapsed(seconds: float) -> str:
    minutes, second = divmod(int(round(seconds)), 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour}:{minute:02d}:{second:02d} ({seconds:.1f} s)"


def procedure_lines(job: Job) -> list[str]:
    """The training procedure in sentences: epochs, iterations, progress, monitors, best model and time."""
    proto = job.nnp.proto
    t = proto.training_config
    total = int(t.max_epoch) * int(t.iter_per_epoch)
    lines = [f"Planned: {t.max_epoch} epochs of {t.iter_per_epoch} iterations ({_count(total)} iterations)."]
    iteration = job.state.get("iteration")
    epochs_done = len(job.state.get("history", [])) or max((len(p) for p in job.curves.values()), default=0)
    if iteration is not None:
        lines.append(f"Completed: {_count(int(iteration))} iterations, {epochs_done} epochs"
                     + (" (finished)." if int(iteration) >= total else " (stopped before the end)."))
    monitors = ", ".join(f"{m.name} on {', '.join(m.dataset_name)}" for m in proto.monitor)
    if monitors:
        lines.append(f"Monitors: {monitors}, evaluated every {max(int(t.monitor_interval), 1)} epochs (and each of "
                     "the first five).")
    best_error, best_epoch = job.state.get("best_error"), job.state.get("best_epoch")
    if t.save_best and best_error is not None:
        lines.append(f"results.nnp holds the parameters of epoch {best_epoch}, the lowest valid_error "
                     f"({_number(float(best_error))}).")
    else:
        lines.append("results.nnp holds the parameters of the last evaluated epoch.")
    finished = datetime.datetime.fromtimestamp(job.finished).isoformat(sep=" ", timespec="seconds")
    lines.append(f"Last written: {finished}.")
    elapsed = job.state.get("elapsed")
    lines.append(f"Training time: {_elapsed(float(elapsed))}." if elapsed is not None
                 else "Training time: not recorded in this job's checkpoint.")
    return lines


def _optimizer_table(job: Job, optimizer: Any) -> Table:
    solver = optimizer.solver
    batch = {d.name: d.batch_size for d in job.datasets}
    batch_size = batch.get(optimizer.dataset_name[0], 0) if optimizer.dataset_name else 0
    rows = [["Network", optimizer.network_name], ["Dataset", ", ".join(optimizer.dataset_name)],
            ["Solver", solver.type]]
    rows += [[f"  {name}", value] for name, value in _solver_parameters(solver)]
    rows += [["Learning-rate schedule", _schedule(solver)],
             ["Weight decay", _number(solver.weight_decay)],
             ["Batch size", str(batch_size) if optimizer.update_interval <= 1 else
              f"{batch_size} x {optimizer.update_interval} accumulated = {batch_size * optimizer.update_interval}"],
             ["Loss", ", ".join(v.variable_name for v in optimizer.loss_variable) or "network outputs"]]
    if optimizer.start_iter or optimizer.end_iter:
        rows.append(["Active iterations", f"{optimizer.start_iter} to {optimizer.end_iter or 'end'}"])
    return Table([f"Optimizer {optimizer.name!r}", "Value"], rows)


def _training_section(job: Job) -> Section:
    section = Section("training", "Training procedure")
    blocks: list[Block] = [Text(procedure_lines(job))]
    blocks += [_optimizer_table(job, o) for o in job.nnp.proto.optimizer]
    section.pages.append(Page("", blocks))
    return section


# -- learning curve -------------------------------------------------------------------------------------------------
def _curve_section(job: Job) -> Section:
    section = Section("learning-curve", "Learning curve")
    curves = {name: points for name, points in job.curves.items() if points}
    if not curves:
        section.pages.append(Page("", [Text(["No learning curve: the job folder has no *.series.txt files."])]))
        return section
    rows = []
    for name, points in curves.items():
        best = min(points, key=lambda p: p[1])
        rows.append([name, _number(points[0][1]), _number(points[-1][1]), f"{_number(best[1])} (epoch {best[0]})"])
    table = Table(["Curve", "First epoch", "Last epoch", "Lowest"], rows, numeric=(1, 2))
    picture = Picture(figures.learning_curve(curves), "Cost and monitored errors per epoch")
    section.pages.append(Page("", [picture, table]))
    return section


# -- evaluation -------------------------------------------------------------------------------------------------------
def _evaluation_section(job: Job) -> Section:
    section = Section("evaluation", "Evaluation")
    evaluation = job.evaluation
    if evaluation is None:
        section.pages.append(Page("", [Text([job.evaluation_note])]))
        return section
    if not evaluation.matrices:
        section.pages.append(Page("", [Text([f"{_count(evaluation.rows)} rows evaluated.", job.evaluation_note])]))
    for output, m in evaluation.matrices.items():
        matrix = m["matrix"]
        correct = sum(matrix[i][i] for i in range(len(matrix)))
        samples = sum(sum(row) for row in matrix)
        metrics = Table(["Metric", "Value"], [
            ["Accuracy", f"{m['accuracy']:.4f}"],
            ["Correct / samples", f"{_count(correct)} / {_count(samples)}"],
            ["Avg. precision", f"{m.get('avg_precision', sum(m['precision']) / len(m['precision'])):.4f}"],
            ["Avg. recall", f"{m.get('avg_recall', sum(m['recall']) / len(m['recall'])):.4f}"],
            ["Avg. F-measure", f"{m.get('avg_f_measure', sum(m['f_measure']) / len(m['f_measure'])):.4f}"],
        ], numeric=(1,))
        per_class = Table(["Class", "Precision", "Recall", "F-measure", "Samples"], [
            [str(c), f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", _count(sum(matrix[c]))]
            for c, (p, r, f) in enumerate(zip(m["precision"], m["recall"], m["f_measure"]))
        ], numeric=(0, 1, 2, 3, 4))
        label = m.get("label", output.rstrip("'"))
        source = Text([f"Output {output!r} against label {label!r}, from {evaluation.directory}."])
        section.pages.append(Page(f"{output} metrics", [metrics, per_class, source]))
        picture = Picture(figures.confusion_matrix(matrix, f"{output} (accuracy {m['accuracy']:.4f})"),
                          f"Confusion matrix of {output!r}: rows are true classes, columns predicted classes")
        section.pages.append(Page(f"{output} confusion matrix", [picture]))
    return section


# -- references --------------------------------------------------------------------------------------------------------
def _references_section(job: Job) -> Section:
    types = list(dict.fromkeys(f.type for n in job.nnp.proto.network for f in n.function))
    lines = [f"{t}: {layer_reference(t)}" for t in types]
    return Section("references", "References", [Page("Layers used", [Text(lines)])])


def build_document(job: Job) -> Document:
    """The whole report of a job."""
    import nnl

    statistics = [network_statistics(job.nnp, name) for name in _reported_networks(job)]
    created = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
    subtitle = [f"Job folder: {os.path.abspath(job.directory)}", f"Report made {created} by nnl {nnl.__version__}"]
    sections = [
        _dataset_section(job),
        _network_section(job, statistics),
        _training_section(job),
        _curve_section(job),
        _evaluation_section(job),
        _references_section(job),
    ]
    return Document(f"Training report: {job.name}", subtitle, sections)
