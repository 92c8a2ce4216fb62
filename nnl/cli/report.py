"""Make a report of a training job (dataset, network, training, learning curve, evaluation) as PowerPoint or HTML.

Example: ``nnl report results/lenet --format html -o lenet.html`` (reads ``results/lenet/evaluation``, what
``nnl forward -c results/lenet/results.nnp -d test.csv -o results/lenet/evaluation`` writes, or ``--evaluation DIR``).
"""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("jobdir", help="folder written by `nnl train -o JOBDIR`")
    parser.add_argument("-f", "--format", choices=("pptx", "html"), default="pptx", help="report format (default pptx)")
    parser.add_argument("-o", "--output", help="report file (default: JOBDIR/report.pptx or JOBDIR/report.html)")
    parser.add_argument("-e", "--evaluation", help="folder written by `nnl forward` (default: JOBDIR/evaluation)")


def run(args: argparse.Namespace) -> int:
    from nnl.report import write_report

    output = args.output or os.path.join(args.jobdir, f"report.{args.format}")
    write_report(args.jobdir, output, format=args.format, evaluation_dir=args.evaluation)
    print(f"wrote {output}")
    return 0
