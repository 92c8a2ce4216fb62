"""What a training run shows and leaves behind: the progress bar, ``monitoring_report.yml``, learning curves.

``monitoring_report.yml`` follows nnabla_cli (one block per epoch, keyed by ``epoch - 1``: ``cost`` then each
monitor's error); each curve also goes to ``<name>.series.txt`` (``<epoch> <value>`` lines, nnabla's monitor
format) and all of them to ``learning_curve.png``. Every file is rewritten whole and atomically after each epoch.
"""

from __future__ import annotations

import os
from typing import Any

from nnl.parameter_io import write_bytes

__all__ = ["progress_bar", "write_report", "plot_learning_curve"]


def progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="it", desc="train", dynamic_ncols=True)


def _yaml(history: list[dict[str, float]]) -> str:
    lines = []
    for epoch, entry in enumerate(history):
        lines.append(f"{epoch}:")
        lines.extend(f"  {name}: {value}" for name, value in entry.items())
    return "\n".join(lines) + "\n"


def write_report(outdir: str, history: list[dict[str, float]]) -> None:
    """Write ``monitoring_report.yml``, the ``.series.txt`` curves and ``learning_curve.png``."""
    write_bytes(os.path.join(outdir, "monitoring_report.yml"), _yaml(history).encode("utf-8"))
    names = list(dict.fromkeys(name for entry in history for name in entry))
    for name in names:
        rows = [f"{epoch} {entry[name]:g}" for epoch, entry in enumerate(history, start=1) if name in entry]
        write_bytes(os.path.join(outdir, f"{name}.series.txt"), ("\n".join(rows) + "\n").encode("utf-8"))
    plot_learning_curve(os.path.join(outdir, "learning_curve.png"), history)


def plot_learning_curve(path: str, history: list[dict[str, float]]) -> None:
    """Cost and monitor errors per epoch (errors on a second axis when they share no scale with the cost)."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), dpi=100)
    names = list(dict.fromkeys(name for entry in history for name in entry))
    for name in names:
        points = [(epoch, entry[name]) for epoch, entry in enumerate(history, start=1) if name in entry]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=name)
    axis.set_xlabel("epoch")
    axis.set_ylabel("cost / error")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_bytes(path, buffer.getvalue())
