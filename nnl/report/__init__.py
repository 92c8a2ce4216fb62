"""Training reports: ``write_report(job_dir, path, format)`` makes a PowerPoint deck or a self-contained HTML page.

A report has the sections of Neural Network Console's HTML report: dataset summary with example images, network
architecture (diagram and per-function statistics), training procedure, learning curve, evaluation metrics with the
confusion matrix, and references of the layers used. ``nnl report JOBDIR`` is the command-line form.
"""

from __future__ import annotations

import os

__all__ = ["write_report", "FORMATS"]

FORMATS = ("pptx", "html")


def write_report(job_dir: str, path: str, format: str = "pptx", evaluation_dir: str | None = None) -> str:
    """Write the report of the training job in ``job_dir`` to ``path`` (atomically); returns ``path``.

    ``format`` is ``"pptx"`` or ``"html"``; ``evaluation_dir`` is where ``nnl forward`` wrote its results (default
    ``JOBDIR/evaluation``; when there is none the report says so).
    """
    if format not in FORMATS:
        raise ValueError(f"write_report: format={format!r}; expected one of {FORMATS}.")
    from nnl.parameter_io import write_bytes
    from nnl.report.document import build_document
    from nnl.report.job import read_job

    document = build_document(read_job(os.fspath(job_dir), evaluation_dir))
    if format == "html":
        from nnl.report.html_writer import render_html

        payload = render_html(document).encode("utf-8")
    else:
        from nnl.report.pptx_writer import render_pptx

        payload = render_pptx(document)
    write_bytes(path, payload)
    return path
