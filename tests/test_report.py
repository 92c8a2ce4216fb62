"""nnl report: PowerPoint and HTML reports of a real (tiny) training job, and the network statistics behind them."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from mnist_jobs import classifier_config, mnist_csvs
from PIL import Image

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.cli.main import main as cli
from nnl.nnp.container import read_nnp
from nnl.report import write_report
from nnl.report.network import network_statistics
from nnl.utils.save import save

if os.environ.get("CI") == "true":  # CI installs the console extra: a missing python-pptx is a failure there
    import pptx
else:
    pptx = pytest.importorskip("pptx")

BATCH, TRAIN, VALID = 16, 96, 48
SECTIONS = ["Dataset", "Network architecture", "Training procedure", "Learning curve", "Evaluation", "References"]


def _net(x):
    h = F.relu(F.max_pooling(PF.convolution(x, 4, (5, 5), name="conv"), (2, 2)))
    h = PF.batch_normalization(h, name="bn")
    return PF.affine(h, 10, name="fc")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A job folder made by `nnl train` (2 epochs of 6 iterations) and `nnl forward` (into JOBDIR/evaluation)."""
    folder = tmp_path_factory.mktemp("report")
    train, valid = mnist_csvs(str(folder), TRAIN, VALID)
    config = classifier_config(folder / "config.nntxt", train, valid, _net, batch=BATCH, iter_per_epoch=TRAIN // BATCH,
                               max_epoch=2, solver=S.Momentum(0.05, 0.9), lr_decay=0.5, lr_decay_interval=4)
    out = folder / "job"
    assert cli(["train", "-c", config, "-o", str(out), "-q"]) == 0
    assert cli(["forward", "-c", str(out / "results.nnp"), "-d", valid, "-o", str(out / "evaluation")]) == 0
    return out


def _matrix(job):
    return json.loads((job / "evaluation" / "confusion_matrix.json").read_text())["y'"]


def _parameter_total(job):
    return sum(int(a.size) for a in read_nnp(str(job / "results.nnp")).parameters.values())


def _number(text):
    return float(text.replace(",", ""))


def _is_png(data):
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
        return image.format == "PNG" and image.size[0] > 50 and image.size[1] > 50


# -- PowerPoint --------------------------------------------------------------------------------------------------------
def _slides(path):
    deck = pptx.Presentation(str(path))
    slides = []
    for slide in deck.slides:
        tables = [[[c.text for c in row.cells] for row in s.table.rows] for s in slide.shapes if s.has_table]
        pictures = [s.image.blob for s in slide.shapes if s.shape_type == pptx.enum.shapes.MSO_SHAPE_TYPE.PICTURE]
        title_id = slide.shapes.title.shape_id
        texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame and s.shape_id != title_id]
        slides.append({"title": slide.shapes.title.text, "tables": tables, "pictures": pictures, "texts": texts,
                       "shapes": list(slide.shapes)})
    return deck, slides


def _by_title(slides, title):
    found = [s for s in slides if s["title"] == title]
    assert found, f"no slide titled {title!r}; titles: {[s['title'] for s in slides]}"
    return found[0]


def test_pptx_report_from_the_cli(job, tmp_path):
    path = tmp_path / "report.pptx"
    assert cli(["report", str(job), "--format", "pptx", "-o", str(path)]) == 0
    deck, slides = _slides(path)
    assert deck.slide_width * 9 == deck.slide_height * 16
    assert [s["title"] for s in slides] == [
        "Training report: job", "Dataset: Datasets", "Dataset: Examples of Training",
        "Network architecture: MainRuntime", "Network architecture: MainRuntime statistics (per sample)",
        "Training procedure", "Learning curve", "Evaluation: y' metrics", "Evaluation: y' confusion matrix",
        "References: Layers used"]
    for slide in slides:  # every shape lies on its slide
        for shape in slide["shapes"]:
            assert shape.left >= 0 and shape.top >= 0, (slide["title"], shape.name)
            assert shape.left + shape.width <= deck.slide_width and shape.top + shape.height <= deck.slide_height, \
                (slide["title"], shape.name)

    datasets = _by_title(slides, "Dataset: Datasets")["tables"][0]
    assert datasets[0][:3] == ["Dataset", "File", "Rows"]
    assert {row[0]: _number(row[2]) for row in datasets[1:]} == {"Training": TRAIN, "Validation": VALID}
    assert "x: image (1, 28, 28)" in datasets[1][3]
    for title in ("Dataset: Examples of Training", "Network architecture: MainRuntime", "Learning curve",
                  "Evaluation: y' confusion matrix"):
        pictures = _by_title(slides, title)["pictures"]
        assert len(pictures) == 1 and _is_png(pictures[0]), title

    statistics = _by_title(slides, "Network architecture: MainRuntime statistics (per sample)")["tables"][0]
    rows = {row[2]: row for row in statistics[1:] if row[2]}
    assert list(rows) == ["Convolution", "MaxPooling", "ReLU", "BatchNormalization", "Affine", "Softmax"]
    assert rows["Convolution"][3] == "(4, 24, 24)" and rows["Affine"][3] == "(10)"
    # independent counts: conv 4 maps of 24x24, each a 1x5x5 window; affine 4*12*12 inputs to 10 outputs
    assert _number(rows["Convolution"][5]) == 4 * 24 * 24 * 1 * 5 * 5
    assert _number(rows["Affine"][5]) == 4 * 12 * 12 * 10
    assert _number(rows["ReLU"][5]) == 0
    assert _number(rows["Convolution"][4]) == 4 * 25 + 4 and _number(rows["BatchNormalization"][4]) == 4 * 4
    total = statistics[-1]
    assert total[1] == "Total" and _number(total[4]) == _parameter_total(job)
    assert _number(total[5]) == 4 * 24 * 24 * 25 + 4 * 12 * 12 * 10

    training = _by_title(slides, "Training procedure")
    settings = {row[0].strip(): row[1] for row in training["tables"][0][1:]}
    assert settings["Solver"] == "Momentum" and _number(settings["lr"]) == pytest.approx(0.05)
    assert _number(settings["momentum"]) == pytest.approx(0.9) and settings["Batch size"] == str(BATCH)
    assert settings["Learning-rate schedule"] == "multiplied by 0.5 every 4 iterations"
    assert any("Planned: 2 epochs of 6 iterations (12 iterations)." in t for t in training["texts"])

    curves = {row[0]: row for row in _by_title(slides, "Learning curve")["tables"][0][1:]}
    for name in ("cost", "train_error", "valid_error"):
        last = float((job / f"{name}.series.txt").read_text().split()[-1])
        assert _number(curves[name][2]) == pytest.approx(last, rel=1e-5)

    m = _matrix(job)
    metrics_slide = _by_title(slides, "Evaluation: y' metrics")
    metrics = {row[0]: row[1] for row in metrics_slide["tables"][0][1:]}
    assert _number(metrics["Accuracy"]) == pytest.approx(m["accuracy"], abs=5e-5)
    assert metrics["Correct / samples"] == f"{int(np.trace(m['matrix']))} / {VALID}"
    per_class = metrics_slide["tables"][1]
    assert per_class[0] == ["Class", "Precision", "Recall", "F-measure", "Samples"] and len(per_class) == 11
    for c, row in enumerate(per_class[1:]):
        assert _number(row[1]) == pytest.approx(m["precision"][c], abs=5e-5)
        assert _number(row[2]) == pytest.approx(m["recall"][c], abs=5e-5)
        assert _number(row[3]) == pytest.approx(m["f_measure"][c], abs=5e-5)
        assert _number(row[4]) == sum(m["matrix"][c])

    references = "\n".join(_by_title(slides, "References: Layers used")["texts"])
    for layer in ("Convolution", "MaxPooling", "ReLU", "BatchNormalization", "Affine", "Softmax",
                  "SoftmaxCrossEntropy"):
        assert f"{layer}: " in references
    assert "Ioffe" in references and "LeCun" in references


def test_long_tables_continue_on_further_slides(job, tmp_path):
    """A table longer than a slide holds is split, and no row is lost or repeated."""
    from nnl.report.document import Document, Page, Section, Table
    from nnl.report.pptx_writer import render_pptx

    rows = [[str(i), f"{np.random.RandomState(i).randint(1000):,}"] for i in range(37)]
    document = Document("t", ["s"], [Section("k", "Long", [Page("table", [Table(["#", "value"], rows, (1,))])])])
    path = tmp_path / "long.pptx"
    path.write_bytes(render_pptx(document))
    _, slides = _slides(path)
    assert [s["title"] for s in slides[1:]] == ["Long: table", "Long: table (cont.)", "Long: table (cont.)"]
    seen = [row for s in slides[1:] for row in s["tables"][0][1:]]
    assert seen == rows and all(s["tables"][0][0] == ["#", "value"] for s in slides[1:])


# -- HTML --------------------------------------------------------------------------------------------------------------
class _Outline(HTMLParser):
    """Headings, images, table cells and the tags used, of an HTML page."""

    def __init__(self):
        super().__init__()
        self.h2, self.images, self.cells, self.tags, self.text = [], [], [], set(), []
        self._open = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag in ("h2", "td", "th"):
            self._open, self._buffer = tag, ""

    def handle_endtag(self, tag):
        if tag == self._open:
            (self.h2 if tag == "h2" else self.cells).append(self._buffer)
            self._open = None

    def handle_data(self, data):
        self.text.append(data)
        if self._open:
            self._buffer += data


def _outline(path):
    parser = _Outline()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_html_report_is_one_self_contained_file(job, tmp_path):
    path = tmp_path / "report.html"
    assert write_report(str(job), str(path), format="html") == str(path)
    page = _outline(path)
    assert page.h2 == SECTIONS
    assert len(page.images) == 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert _is_png(base64.b64decode(src.split(",", 1)[1]))
    assert not {"script", "link", "iframe"} & page.tags
    cells = page.cells
    total = cells.index("Total")
    assert _number(cells[total + 3]) == _parameter_total(job)
    accuracy = cells.index("Accuracy")
    assert _number(cells[accuracy + 1]) == pytest.approx(_matrix(job)["accuracy"], abs=5e-5)
    text = "".join(page.text)
    assert "Momentum" in text and "Planned: 2 epochs" in text


def test_missing_evaluation_is_reported_not_fatal(job, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(job, bare, ignore=shutil.ignore_patterns("evaluation"))
    html_path, pptx_path = tmp_path / "r.html", tmp_path / "r.pptx"
    write_report(str(bare), str(html_path), format="html")
    page = _outline(html_path)
    assert page.h2 == SECTIONS and len(page.images) == 3  # no confusion matrix
    assert "No evaluation found" in "".join(page.text)
    assert cli(["report", str(bare), "-o", str(pptx_path)]) == 0
    _, slides = _slides(pptx_path)
    evaluation = _by_title(slides, "Evaluation")
    assert not evaluation["tables"] and "No evaluation found" in evaluation["texts"][0]
    # the default output goes into the job folder
    assert cli(["report", str(bare), "--format", "html"]) == 0 and (bare / "report.html").is_file()
    # an evaluation folder named explicitly is used
    write_report(str(bare), str(html_path), format="html", evaluation_dir=str(job / "evaluation"))
    assert "Accuracy" in _outline(html_path).cells


def test_not_a_job_folder(job, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert cli(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "not a training job folder" in error and "results.nnp" in error
    assert cli(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli(["report", str(job), "--evaluation", str(tmp_path / "nowhere"), "-o", str(tmp_path / "r.pptx")]) == 2
    assert not (tmp_path / "r.pptx").exists()
    with pytest.raises(ValueError, match="not a training job folder"):
        write_report(str(tmp_path), str(tmp_path / "r.html"), format="html")
    with pytest.raises(ValueError, match="format='pdf'"):
        write_report(str(job), str(tmp_path / "r.pdf"), format="pdf")


def test_failed_report_leaves_no_file(job, tmp_path):
    """The report is written atomically: a broken evaluation file stops it before anything is written."""
    broken = tmp_path / "broken"
    shutil.copytree(job, broken)
    (broken / "evaluation" / "confusion_matrix.json").write_text("{not json")
    target = tmp_path / "r.html"
    with pytest.raises(ValueError, match="confusion_matrix.json"):
        write_report(str(broken), str(target), format="html")
    assert not target.exists() and [p.name for p in tmp_path.iterdir()] == ["broken"]


# -- statistics against an independent count ---------------------------------------------------------------------------
def _jacobian_nonzeros(make, sample_shape):
    """Structural non-zeros of d(output)/d(input) of a linear map: one multiply-add per (output, input) pair when
    every pair meets exactly one weight (no padding), found by pushing each one-hot input through it."""
    n = int(np.prod(sample_shape))
    x = nn.Variable((n, *sample_shape))
    x.d = np.eye(n, dtype=np.float32).reshape(n, *sample_shape)
    y = make(x, n)
    y.forward()
    return int(np.count_nonzero(y.d)), tuple(y.shape[1:])


CASES = {
    "affine": ((3, 4, 5), lambda x, n: PF.affine(x, 6, with_bias=False, name="f")),
    "affine_base_axis_2": ((3, 4, 5), lambda x, n: PF.affine(x, (2, 3), base_axis=2, with_bias=False, name="f")),
    "convolution": ((4, 9, 8), lambda x, n: PF.convolution(x, 6, (3, 2), stride=(2, 1), dilation=(1, 2), group=2,
                                                            with_bias=False, name="f")),
    "deconvolution": ((4, 3, 3), lambda x, n: PF.deconvolution(x, 6, (3, 3), stride=(2, 2), group=2,
                                                               with_bias=False, name="f")),
    "depthwise": ((3, 6, 7), lambda x, n: PF.depthwise_convolution(x, (3, 3), multiplier=2, with_bias=False,
                                                                   name="f")),
    "batch_matmul": ((2, 3, 4), lambda x, n: F.batch_matmul(x, _matmul_weight())),
    "batch_matmul_transpose_a": ((2, 4, 3), lambda x, n: F.batch_matmul(x, _matmul_weight(), transpose_a=True)),
}


def _matmul_weight():
    """A parameter broadcast over the batch: (1, 2, 4, 5)."""
    return nn.parameter.get_parameter_or_create("w", (1, 2, 4, 5), np.ones((1, 2, 4, 5), np.float32))


@pytest.mark.parametrize("case", sorted(CASES))
def test_multiply_adds_equal_an_independent_count(case, tmp_path):
    sample_shape, make = CASES[case]
    rng = np.random.RandomState(0)
    nn.clear_parameters()
    with nn.parameter_scope(case):
        x1 = nn.Variable((2, *sample_shape))  # saved with batch size 2: the file's batch dimension is -1
        y1 = make(x1, 2)
        for p in nn.get_parameters().values():
            p.d = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1, 1], p.shape)
        expected_macs, expected_shape = _jacobian_nonzeros(make, sample_shape)
    path = str(tmp_path / "net.nnp")
    save(path, {"networks": [{"name": "net", "batch_size": 2, "outputs": {"y": y1}, "names": {"x": x1}}]})
    stats = network_statistics(read_nnp(path), "net")
    (layer,) = stats.layers
    assert layer.output_shape == expected_shape
    assert layer.macs == expected_macs == stats.total_macs
    assert layer.parameters == sum(int(p.size) for p in nn.get_parameters().values()) == stats.total_parameters
    assert stats.inputs == {"x": sample_shape}


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nnc-nntxt"
NNC_SAMPLES = ("basics_12_residual_learning__2018", "basics_11_deconvolution__2018", "basics_02_binary_cnn__2018",
               "elman_net__2018")


@pytest.mark.filterwarnings("ignore:load. the file asks for context")
@pytest.mark.parametrize("sample", NNC_SAMPLES)
def test_statistics_agree_with_the_shapes_nnc_declared(sample):
    """Shapes nnl infers equal the ones Neural Network Console wrote into its configurations (loops unrolled), and
    the parameter total is the size of every parameter the network reads, once."""
    from nnl.nnp.loops import expand_loops

    found = sorted(CORPUS.glob(f"*{sample}*.nntxt")) if CORPUS.is_dir() else []
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the NNC nntxt corpus is missing: {CORPUS}")
        pytest.skip(f"the NNC nntxt corpus is not here: {CORPUS}")
    nnp = read_nnp(str(found[0]))
    for network in nnp.proto.network:
        stats = network_statistics(nnp, network.name)
        expanded = expand_loops(network)
        declared = {v.name: tuple(v.shape.dim) for v in expanded.variable}
        checked = 0
        for layer in stats.layers:
            shape = declared.get(layer.outputs[0])
            if shape and shape[0] == -1:
                assert layer.output_shape == shape[1:], (network.name, layer.name)
                checked += 1
        assert checked >= len(stats.layers) // 2
        used = {i for f in expanded.function for i in f.input}
        sizes = [int(np.prod(v.shape.dim)) for v in expanded.variable if v.type == "Parameter" and v.name in used]
        assert stats.total_parameters == sum(sizes) > 0


def test_missing_dataset_files_and_training_time(job, tmp_path):
    """A dataset file that moved is named in the report instead of failing it; the training time shows when the
    checkpoint records it."""
    from nnl.nnp.container import write_nnp
    from nnl.report.document import build_document, procedure_lines
    from nnl.report.html_writer import render_html
    from nnl.report.job import read_job

    moved = tmp_path / "moved"
    shutil.copytree(job, moved)
    nnp = read_nnp(str(moved / "results.nnp"))
    nnp.proto.dataset[0].uri = str(tmp_path / "gone" / "train.csv")
    write_nnp(str(moved / "results.nnp"), nnp)
    read = read_job(str(moved))
    assert read.datasets[0].path is None and read.datasets[1].rows == VALID
    page = render_html(build_document(read))
    assert "not found" in page and "gone/train.csv" in page
    assert page.count("data:image/png;base64,") == 3  # no example grid without the training CSV

    assert "Training time: " in page and "not recorded" not in page  # nnl train records it in the checkpoint
    read.state.pop("elapsed")
    assert "Training time: not recorded in this job's checkpoint." in procedure_lines(read)
    read.state["elapsed"] = 3725.4
    assert "Training time: 1:02:05 (3725.4 s)." in procedure_lines(read)
