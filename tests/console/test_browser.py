"""The console in headless Chromium, doing what a new user does: open the sample project, build LeNet from the palette
by dragging and connecting, read shapes and costs, train, watch the curve, evaluate, download the pptx report, export
Python code and run it, import an .sdcproj and export it back unchanged. Screenshots go to tests/console/artifacts/.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from .browser_helpers import Console, artifact, browser, console, expect, page  # noqa: F401 (fixtures)
from .conftest import read_text, require_samples

# LeNet as built below: (palette type, properties to set). Layers are named as the console names them.
LENET = [
    ("Input", {}),
    ("Convolution", {"KernelShape": "5,5", "BorderMode": "valid"}),
    ("MaxPooling", {}),
    ("Tanh", {}),
    ("Convolution", {"OutMaps": "30", "BorderMode": "valid"}),
    ("MaxPooling", {}),
    ("Tanh", {}),
    ("Affine", {"OutShape": "150"}),
    ("Tanh", {}),
    ("Affine", {"OutShape": "10"}),
    ("Softmax", {}),
    ("CategoricalCrossEntropy", {}),
]
# Shapes and parameter counts by hand: 28 -conv5-> 24 -pool-> 12 -conv3-> 10 -pool-> 5; W and b of each layer.
SHAPES = {"Convolution": "16,24,24", "MaxPooling": "16,12,12", "Convolution_2": "30,10,10", "MaxPooling_2": "30,5,5",
          "Affine": "150", "Affine_2": "10", "CategoricalCrossEntropy": "1"}
PARAMETERS = (16 * 1 * 5 * 5 + 16) + (30 * 16 * 3 * 3 + 30) + (30 * 5 * 5 * 150 + 150) + (150 * 10 + 10)
TRAIN_ROWS, VALID_ROWS = 256, 128


def layer_names() -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for kind, _ in LENET:
        seen[kind] = seen.get(kind, 0) + 1
        names.append(kind if seen[kind] == 1 else f"{kind}_{seen[kind]}")
    return names


def tiny_mnist(server: Console) -> None:
    """Small CSVs over the workspace's sample MNIST (written by the server on first use), so that training is quick."""
    server.api("datasets/preview?path=datasets/mnist/mnist_training.csv&limit=1")
    server.api("datasets/preview?path=datasets/mnist/mnist_test.csv&limit=1")
    folder = server.workspace / "datasets" / "mnist"
    for source, target, rows in (("mnist_training.csv", "tiny_train.csv", TRAIN_ROWS),
                                 ("mnist_test.csv", "tiny_test.csv", VALID_ROWS)):
        with open(folder / source, newline="") as f:
            lines = list(csv.reader(f))[: rows + 1]
        with open(folder / target, "w", newline="") as f:
            csv.writer(f).writerows(lines)


def stat_total(page, name: str) -> str:  # noqa: F811
    return page.get_by_test_id(f"stat-{name}").locator(".stat-total").inner_text()


def test_smoke_sample_project(page, console):  # noqa: F811
    """Home lists the sample; its EDIT screen shows every layer with its output shape and the statistics."""
    page.goto(console.url)
    expect(page.get_by_test_id("project-MNIST_LeNet")).to_be_visible()
    page.screenshot(path=artifact("home.png"))
    page.get_by_test_id("project-MNIST_LeNet").get_by_role("link").click()
    expect(page.get_by_test_id("layer-Affine_2").get_by_test_id("layer-stat")).to_have_text("10")
    project = console.api("projects/MNIST_LeNet")
    assert page.locator(".layer-box").count() == len(project["networks"][0]["layers"])
    page.get_by_test_id("stat-CostParameter").click()
    # The sample's parameters by hand: conv 7x7 1->16, conv 3x3 16->30, affine 480->150, affine 150->10.
    expected = (16 * 49 + 16) + (30 * 16 * 9 + 30) + (480 * 150 + 150) + (150 * 10 + 10)
    expect(page.get_by_test_id("stat-CostParameter").locator(".stat-total")).to_have_text(f"{expected / 1e3:.1f}k")
    page.get_by_test_id("layer-Convolution").click()
    expect(page.get_by_test_id("prop-Output")).to_have_text("16,22,22")
    page.screenshot(path=artifact("smoke_sample_edit.png"))
    for tab in ("dataset", "config", "training", "evaluation"):
        page.get_by_test_id(f"tab-{tab}").click()
        page.wait_for_url(f"**/{tab}")
    page.get_by_test_id("tab-dataset").click()
    # The first preview writes the bundled MNIST subset into the workspace (a few seconds).
    expect(page.get_by_test_id("variable-x")).to_have_text("x image (1,28,28)", timeout=60_000)
    page.screenshot(path=artifact("smoke_sample_dataset.png"))


def drag_layer(page, kind: str, x: int, y: int) -> None:  # noqa: F811
    page.get_by_test_id("palette-search").fill(kind)
    page.get_by_test_id(f"palette-{kind}").drag_to(page.get_by_test_id("canvas"), target_position={"x": x, "y": y})
    page.get_by_test_id("palette-search").fill("")


def connect(page, source: str, dest: str, port: str = "port-in") -> None:  # noqa: F811
    page.get_by_test_id(f"layer-{source}").get_by_test_id("port-out").drag_to(
        page.get_by_test_id(f"layer-{dest}").get_by_test_id(port))


def set_property(page, layer: str, name: str, value: str) -> None:  # noqa: F811
    page.get_by_test_id(f"layer-{layer}").click()
    field = page.get_by_test_id(f"prop-{name}")
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)
        field.press("Enter")
    expect(field).to_have_value(value)


def exported_file(page, item: str, path: Path) -> Path:  # noqa: F811
    """Pick ``item`` of the Export menu and save the download at ``path``."""
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
        page.get_by_test_id(item).click()
    download.value.save_as(path)
    return path


def test_new_user_builds_lenet_trains_evaluates_and_reports(page, console, tmp_path):  # noqa: F811
    tiny_mnist(console)
    page.goto(console.url)
    page.get_by_test_id("new-project-name").fill("lenet")
    page.get_by_test_id("new-project").click()
    page.wait_for_url("**/project/lenet/edit")

    names = layer_names()
    for i, (kind, _) in enumerate(LENET):  # a zig-zag column, as a user would drop them
        drag_layer(page, kind, 200 + 40 * (i % 2), 40 + 56 * i)
        expect(page.get_by_test_id(f"layer-{names[i]}")).to_be_visible()
    for source, dest in zip(names, names[1:]):
        connect(page, source, dest)
    expect(page.locator(".react-flow__edge")).to_have_count(len(names) - 1)
    for name, (_, properties) in zip(names, LENET):
        for key, value in properties.items():
            set_property(page, name, key, value)
    for name, shape in SHAPES.items():
        expect(page.get_by_test_id(f"layer-{name}").get_by_test_id("layer-stat")).to_have_text(shape)
    expect(page.get_by_test_id("analysis-errors")).to_have_count(0)
    page.get_by_test_id("stat-CostParameter").click()
    expect(page.get_by_test_id("stat-CostParameter").locator(".stat-total")).to_have_text(f"{PARAMETERS / 1e3:.1f}k")
    expect(page.get_by_test_id("layer-Affine").get_by_test_id("layer-stat")).to_have_text(f"{(750 * 150 + 150) / 1e3:.1f}k")
    page.get_by_test_id("arrange").click()
    for row, name in enumerate(names):  # one column, top to bottom, on NNC's 24 px grid (graph.js autoArrange)
        node = page.locator(".react-flow__node", has=page.get_by_test_id(f"layer-{name}"))
        expect(node).to_have_attribute("style", re.compile(rf"translate\(24px, {24 + 72 * row}px\)"))
    page.screenshot(path=artifact("lenet_built_costparameter.png"))
    page.get_by_test_id("stat-Output").click()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("project-name")).to_have_text("lenet")
    saved = console.api("projects/lenet")["networks"][0]
    assert sorted(layer["name"] for layer in saved["layers"]) == sorted(names)
    assert len(saved["links"]) == len(names) - 1

    # Python export, run on random digits: the parameters nnl creates are those the statistics counted.
    code_path = exported_file(page, "export-python", tmp_path / "lenet_export.py")
    run_exported_network(code_path, PARAMETERS)
    onnx_path = exported_file(page, "export-onnx", tmp_path / "lenet.onnx")
    run_exported_onnx(onnx_path, PARAMETERS)

    # DATASET: link the small CSVs; CONFIG: 2 epochs, a monitor every epoch.
    page.get_by_test_id("tab-dataset").click()
    page.get_by_test_id("dataset-slot-Training").click()
    page.get_by_test_id("dataset-link").select_option("datasets/mnist/tiny_train.csv")
    expect(page.get_by_test_id("dataset-rows")).to_have_text(f"{TRAIN_ROWS} rows × 2 columns")
    expect(page.locator(".data-table img.thumb").first).to_be_visible()
    page.screenshot(path=artifact("lenet_dataset.png"))
    page.get_by_test_id("dataset-slot-Validation").click()
    page.get_by_test_id("dataset-link").select_option("datasets/mnist/tiny_test.csv")
    expect(page.get_by_test_id("dataset-rows")).to_have_text(f"{VALID_ROWS} rows × 2 columns")
    page.get_by_test_id("tab-config").click()
    for key, value in (("max_epoch", "2"), ("monitor_interval", "1")):
        field = page.get_by_test_id(f"config-{key}")
        field.fill(value)
        field.blur()
    page.screenshot(path=artifact("lenet_config.png"))

    # TRAINING: the curve grows while the job runs, over SSE.
    page.get_by_test_id("tab-training").click()
    page.get_by_test_id("run-training").click()
    cost = page.get_by_test_id("curve-cost")
    expect(cost).to_have_attribute("data-points", "1", timeout=120_000)
    expect(page.get_by_test_id("job-state")).to_have_text("finished", timeout=120_000)
    expect(cost).to_have_attribute("data-points", "2")
    expect(page.get_by_test_id("curve-valid_error")).to_have_attribute("data-points", "2")
    expect(page.get_by_test_id("job-epoch")).to_have_text("epoch 2 / 2")
    expect(page.get_by_test_id("tradeoff-chart").get_by_test_id("pareto-point")).to_have_count(1)
    page.screenshot(path=artifact("lenet_training.png"))

    # EVALUATION: confusion matrix over every validation row, thumbnails, likelihood histogram.
    page.get_by_test_id("tab-evaluation").click()
    page.get_by_test_id("run-evaluation").click()
    matrix = page.locator("[data-testid^=confusion-]").first
    expect(matrix).to_be_visible(timeout=120_000)
    cells = [int(c) for c in matrix.locator(".matrix tbody tr td:not(:last-child):not(:nth-last-child(2))")
             .all_inner_texts() if c.isdigit()]
    assert sum(cells) == VALID_ROWS
    expect(page.get_by_test_id("output-table").locator("img.thumb").first).to_be_visible()
    expect(page.get_by_test_id("likelihood")).to_be_visible()
    page.screenshot(path=artifact("lenet_evaluation.png"), full_page=True)

    with page.expect_download(timeout=120_000) as download:
        page.get_by_test_id("report-pptx").click()
    report = tmp_path / "report.pptx"
    download.value.save_as(report)
    download.value.save_as(artifact("lenet_report.pptx"))
    from pptx import Presentation

    texts = " ".join(shape.text_frame.text for slide in Presentation(report).slides for shape in slide.shapes
                     if shape.has_text_frame)
    for section in ("Training procedure", "Learning curve", "confusion matrix", "MainRuntime statistics"):
        assert section in texts
    assert "tiny_train.csv" in texts

    # A smaller variant: two jobs overlaid, two points on the trade-off graph (multiply-adds counted by hand).
    page.get_by_test_id("tab-edit").click()
    set_property(page, "Affine", "OutShape", "50")
    page.get_by_test_id("tab-training").click()
    page.get_by_test_id("run-training").click()
    expect(page.locator(".training-screen .side-item")).to_have_count(2)
    expect(page.get_by_test_id("job-state")).to_have_text("finished", timeout=120_000)
    for box in page.get_by_test_id("compare").all():
        box.check()
    overlay = page.get_by_test_id("overlay-chart")
    expect(overlay.locator("polyline")).to_have_count(2)
    chart = page.get_by_test_id("tradeoff-chart")
    expect(chart.locator("circle")).to_have_count(2)
    expect(chart.get_by_test_id("pareto-point")).not_to_have_count(0)
    page.screenshot(path=artifact("lenet_compare_tradeoff.png"), full_page=True)
    macs = 16 * 24 * 24 * 25 + 30 * 10 * 10 * 16 * 9
    points = console.api("tradeoff?statistic=CostMultiplyAdd")
    assert sorted(p["cost"] for p in points) == [macs + 750 * 50 + 50 * 10, macs + 750 * 150 + 150 * 10]
    assert any(p["pareto"] and p["cost"] == macs + 750 * 50 + 50 * 10 for p in points)


def run_exported_onnx(path: Path, parameters: int) -> None:
    """The ONNX export runs in onnxruntime on random digits (probabilities per row) and holds every parameter."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = onnx.load(path)
    weights = [t for t in model.graph.initializer if t.name.endswith(("/W", "/b"))]
    assert sum(int(np.prod(t.dims)) for t in weights) == parameters
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    assert y.shape == (2, 10) and np.allclose(y.sum(axis=1), 1, atol=1e-5)


def run_exported_network(path: Path, parameters: int) -> None:
    """Runs the exported ``network(x, y)`` on random digits: losses finite, outputs (2, 10), parameter count."""
    import nnl as nn

    spec = importlib.util.spec_from_file_location("lenet_export", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    nn.clear_parameters()
    try:
        x = nn.Variable.from_numpy_array(rng.random((2, 1, 28, 28), dtype=np.float32))
        y = nn.Variable.from_numpy_array(rng.integers(0, 10, (2, 1)))
        loss = module.network(x, y)
        output = module.network(x)
        loss.forward()
        output.forward()
        assert output.shape == (2, 10)
        assert np.allclose(output.d.sum(axis=1), 1, atol=1e-5)
        assert np.isfinite(loss.d).all()
        assert sum(int(np.prod(p.shape)) for p in nn.get_parameters().values()) == parameters
    finally:
        nn.clear_parameters()


def test_editing_operations(page, console):  # noqa: F811
    """Typed property editors refuse bad values; undo/redo, copy/paste, delete, named connectors, error highlight,
    comments, network tabs, palette search and save all act on the document."""
    console.api("projects", {"name": "edits", "template": "sample"})
    page.goto(console.url + "#/project/edits/edit")
    stat = lambda name: page.get_by_test_id(f"layer-{name}").get_by_test_id("layer-stat")  # noqa: E731
    expect(stat("Affine_2")).to_have_text("10")

    page.get_by_test_id("layer-Affine_2").click()
    field = page.get_by_test_id("prop-OutShape")
    field.fill("0")
    field.press("Enter")
    expect(page.get_by_test_id("prop-OutShape-error")).to_contain_text('expected every value >= 1; got "0"')
    expect(page.get_by_test_id("save")).to_be_disabled()
    field.fill("12")
    field.press("Enter")
    expect(stat("Affine_2")).to_have_text("12")
    expect(stat("Softmax")).to_have_text("12")
    expect(page.get_by_test_id("project-name")).to_have_text("edits *")
    page.get_by_test_id("undo").click()
    expect(stat("Affine_2")).to_have_text("10")
    page.get_by_test_id("redo").click()
    expect(stat("Affine_2")).to_have_text("12")

    # A kernel larger than the image: the layer is highlighted and the message names it.
    page.get_by_test_id("layer-Convolution").click()
    page.get_by_test_id("prop-KernelShape").fill("30,30")
    page.get_by_test_id("prop-KernelShape").press("Enter")
    expect(page.get_by_test_id("layer-Convolution")).to_have_class(re.compile("has-error"))
    expect(page.get_by_test_id("analysis-errors")).to_contain_text("Convolution")
    page.screenshot(path=artifact("edit_error_highlight.png"))
    page.get_by_test_id("layer-Convolution").click()  # out of the text field: Ctrl+Z there undoes typing
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("layer-Convolution")).not_to_have_class(re.compile("has-error"))
    expect(page.get_by_test_id("analysis-errors")).to_have_count(0)

    # Copy, paste (a fresh name), delete.
    page.get_by_test_id("layer-Affine_2").click()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(page.get_by_test_id("layer-Affine_3")).to_be_visible()
    expect(page.get_by_test_id("prop-OutShape")).to_have_value("12")
    page.get_by_test_id("layer-Affine_3").click()
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("layer-Affine_3")).to_have_count(0)

    # Double-click in the palette: added below the selected layer and linked to it.
    edges = len(console.api("projects/edits")["networks"][0]["links"])
    expect(page.locator(".react-flow__edge")).to_have_count(edges)
    page.get_by_test_id("layer-Affine_2").click()
    page.get_by_test_id("palette-search").fill("Dropout")
    page.get_by_test_id("palette-Dropout").dblclick()
    expect(stat("Dropout")).to_have_text("12")
    expect(page.locator(".react-flow__edge")).to_have_count(edges + 1)
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("layer-Dropout")).to_have_count(0)
    expect(page.locator(".react-flow__edge")).to_have_count(edges)

    # A second Input wired to the loss's named T connector.
    page.get_by_test_id("palette-search").fill("Inp")
    expect(page.get_by_test_id("palette-Affine")).to_have_count(0)
    page.get_by_test_id("palette-Input").drag_to(page.get_by_test_id("canvas"), target_position={"x": 60, "y": 60})
    page.get_by_test_id("palette-search").fill("")
    set_property(page, "Input_2", "Size", "1")
    connect(page, "Input_2", "CategoricalCrossEntropy", port="port-T")
    expect(page.locator(".react-flow__edge")).to_have_count(edges + 1)
    expect(page.locator(".react-flow__edge-text").filter(has_text="T")).to_have_count(1)

    page.get_by_test_id("add-comment").click()
    comment = page.get_by_test_id("comment")
    comment.dblclick()
    comment.locator("textarea").fill("LeNet, 12 outputs")
    page.get_by_test_id("canvas").click(position={"x": 5, "y": 5})
    expect(comment).to_have_text("LeNet, 12 outputs")

    page.once("dialog", lambda dialog: dialog.accept("Block"))
    page.locator(".network-add").click()
    expect(page.get_by_test_id("network-tab-Block")).to_have_class(re.compile("active"))
    drag_layer(page, "ReLU", 200, 100)
    expect(page.get_by_test_id("layer-ReLU")).to_be_visible()
    page.get_by_test_id("network-tab-Main").click()
    expect(page.get_by_test_id("layer-Affine_2")).to_be_visible()

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("project-name")).to_have_text("edits")
    page.screenshot(path=artifact("edit_operations.png"))
    saved = console.api("projects/edits")
    main, block = saved["networks"]
    by_name = {layer["name"]: layer for layer in main["layers"]}
    assert by_name["Affine_2"]["properties"]["OutShape"] == "12"
    assert by_name["Convolution"]["properties"]["KernelShape"] == "7,7"
    assert "Affine_3" not in by_name
    t_links = [link for link in main["links"] if link["dest"] == by_name["CategoricalCrossEntropy"]["id"]]
    assert sorted(link["dest_pin"] for link in t_links) == [0, 1]
    assert [c["text"] for c in main["comments"]] == ["LeNet, 12 outputs"]
    assert block["name"] == "Block" and [layer["type"] for layer in block["layers"]] == ["ReLU"]
    page.reload()
    expect(stat("Affine_2")).to_have_text("12")


def test_sdcproj_import_and_export_unchanged(page, console, tmp_path):  # noqa: F811
    """An NNC project imported from the home page opens in the editor and exports back to the same text."""
    sample = next(p for p in require_samples() if p.name == "tutorial_basics_12_residual_learning.sdcproj")
    page.goto(console.url)
    broken = tmp_path / "broken.sdcproj"
    broken.write_text("[Network_0]\nLayer_0_Type=Nope\n")
    page.get_by_test_id("import-file").set_input_files(str(broken))
    expect(page.get_by_test_id("message")).to_contain_text("broken")
    expect(page.get_by_test_id("project-broken")).to_have_count(0)
    page.get_by_test_id("import-file").set_input_files(str(sample))
    page.wait_for_url("**/project/tutorial_basics_12_residual_learning/edit")
    imported = console.api("projects/tutorial_basics_12_residual_learning")
    for network in imported["networks"]:
        page.get_by_test_id(f"network-tab-{network['name']}").click()
        expect(page.locator(".layer-box")).to_have_count(len(network["layers"]))
    page.get_by_test_id(f"network-tab-{imported['networks'][0]['name']}").click()
    # Two residual blocks repeated twice, each of 3 Convolution + 3 BatchNormalization + 3 ReLU + the shortcut's Add2:
    # every inner layer carries an x2 badge.
    expect(page.get_by_test_id("repeat-badge")).to_have_count(2 * 10)
    expect(page.get_by_test_id("layer-Add2_2").get_by_test_id("repeat-badge")).to_have_text("x2")
    expect(page.get_by_test_id("layer-MaxPooling_2").get_by_test_id("repeat-badge")).to_have_count(0)
    expect(page.locator(".layer-box").first.get_by_test_id("layer-stat")).not_to_have_text("-")
    total = page.get_by_test_id("stat-CostParameter").locator(".stat-total")
    expect(total).not_to_have_text("-", timeout=30_000)
    parameters = total.inner_text()
    page.screenshot(path=artifact("sdcproj_imported.png"))
    exported = exported_file(page, "export-sdcproj", tmp_path / "exported.sdcproj")
    assert read_text(exported).replace("\r\n", "\n") == read_text(sample).replace("\r\n", "\n")

    # The same project as nntxt, imported back: a network of the same layer types, auto-arranged.
    nntxt = exported_file(page, "export-nntxt", tmp_path / "residual.nntxt")
    page.goto(console.url)
    page.get_by_test_id("import-file").set_input_files(str(nntxt))
    page.wait_for_url("**/project/residual/edit")
    expect(page.locator(".layer-box").first).to_be_visible()
    reimported = console.api("projects/residual")
    assert reimported["networks"] and all(n["layers"] for n in reimported["networks"])
    expect(page.get_by_test_id("stat-CostParameter").locator(".stat-total")).to_have_text(parameters, timeout=30_000)
    page.screenshot(path=artifact("nntxt_imported.png"))


@pytest.mark.slow
def test_suspend_resume_stop(page, console):  # noqa: F811
    """A long job is suspended, resumed from its checkpoint (the curve keeps its points) and stopped."""
    tiny_mnist(console)
    project = console.api("projects", {"name": "long", "template": "sample"})
    project["datasets"][0]["uri"] = "datasets/mnist/tiny_train.csv"
    project["datasets"][1]["uri"] = "datasets/mnist/tiny_test.csv"
    project["config"].update(max_epoch=200, monitor_interval=1000)
    console.api("projects/long", project, method="PUT")
    page.goto(console.url + "#/project/long/training")
    page.get_by_test_id("run-training").click()
    cost = page.get_by_test_id("curve-cost")
    page.wait_for_function("() => Number(document.querySelector('[data-testid=curve-cost]')"
                           "?.getAttribute('data-points')) >= 2", timeout=120_000)
    page.get_by_test_id("job-suspend").click()
    expect(page.get_by_test_id("job-state")).to_have_text("suspended", timeout=60_000)
    done = int(cost.get_attribute("data-points") or 0)
    page.get_by_test_id("job-resume").click()
    expect(page.get_by_test_id("job-state")).to_have_text("running", timeout=60_000)
    page.wait_for_function("n => Number(document.querySelector('[data-testid=curve-cost]')"
                           "?.getAttribute('data-points')) > n", arg=done, timeout=120_000)
    page.screenshot(path=artifact("training_resumed.png"))
    page.get_by_test_id("job-stop").click()
    expect(page.get_by_test_id("job-state")).to_have_text("stopped", timeout=60_000)
    series = console.api(f"jobs/{page.get_by_test_id('job-view').locator('b').first.inner_text()}/metrics")["series"]
    epochs = [epoch for epoch, _ in series["cost"]]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) > done


@pytest.mark.parametrize("ci", ["true", ""])
def test_missing_chromium_fails_under_ci_and_skips_otherwise(monkeypatch, ci):
    from . import browser_helpers

    monkeypatch.setenv("CI", ci)
    monkeypatch.delenv("NNL_CHROMIUM", raising=False)
    monkeypatch.setattr(browser_helpers.shutil, "which", lambda name: None)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="Chromium is not installed"):
        browser_helpers.chromium_path()


def test_dataset_from_image_folder(page, console):  # noqa: F811
    """DATASET creates a CSV dataset from class folders of random-sized images and links it: C×H×W as asked."""
    from PIL import Image

    rng = np.random.default_rng(5)
    counts = {"cat": 5, "dog": 4}
    for label, count in counts.items():
        folder = console.workspace / "datasets" / "pets_src" / label
        folder.mkdir(parents=True)
        for i in range(count):
            h, w = rng.integers(20, 40, 2)
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    console.api("projects", {"name": "pets", "template": "empty"})
    page.goto(console.url + "#/project/pets/dataset")
    page.locator(".image-folder summary").click()
    form = page.locator(".image-folder")
    for label, value in (("Source folder", "datasets/pets_src"), ("Output folder", "datasets/pets"), ("Width", "16"),
                         ("Height", "16"), ("Ratio 1", "60"), ("Ratio 2", "40")):
        form.get_by_label(label).fill(value)
    form.get_by_role("button", name="Create").click()
    expect(form.locator(".message")).to_contain_text("datasets/pets/train.csv")
    page.get_by_test_id("dataset-slot-Training").click()
    page.get_by_test_id("dataset-link").select_option("datasets/pets/train.csv")
    expect(page.get_by_test_id("variable-x")).to_have_text("x image (3,16,16)")
    rows = int(page.get_by_test_id("dataset-rows").inner_text().split()[0])
    test_rows = console.api("datasets/preview?path=datasets/pets/test.csv&limit=1")["total"]
    assert rows + test_rows == sum(counts.values()) and rows > test_rows > 0
    expect(page.locator(".data-table img.thumb")).to_have_count(rows)
    page.screenshot(path=artifact("dataset_from_image_folder.png"))


def test_config_solver_scheduler_and_validation(page, console):  # noqa: F811
    """CONFIG: a solver change brings that solver's parameters; bad numbers are refused; the scheduler is kept."""
    console.api("projects", {"name": "tuned", "template": "sample"})
    page.goto(console.url + "#/project/tuned/config")
    page.get_by_test_id("config-solver").select_option("Momentum")
    rate = page.get_by_test_id("solver-LearningRate")
    rate.fill("0.05")
    rate.blur()
    epochs = page.get_by_test_id("config-max_epoch")
    epochs.fill("2.5")
    expect(epochs).to_have_class(re.compile("invalid"))
    epochs.blur()
    expect(epochs).to_have_value("10")
    page.get_by_test_id("config-precision").select_option("half")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("project-name")).to_have_text("tuned")
    saved = console.api("projects/tuned")
    optimizer = saved["optimizers"][0]
    assert optimizer["solver"] == "Momentum"
    assert optimizer["solver_parameters"] == {"LearningRate": "0.05", "Momentum": "0.9"}
    assert saved["config"]["max_epoch"] == 10 and saved["config"]["type_config"] == "half"
    assert console.api("check", {"project": saved})["errors"] == []


def test_unit_layer_opens_its_network(page, console):  # noqa: F811
    """SqueezeNet calls its backbone as a Unit: the Unit's Network is a choice of the project's networks, and a
    double-click opens that network's tab."""
    sample = next(p for p in require_samples() if "squeezenet" in p.name)
    page.goto(console.url)
    page.get_by_test_id("import-file").set_input_files(str(sample))
    page.wait_for_url(f"**/project/{sample.stem}/edit")
    page.get_by_test_id("network-tab-Runtime").click()
    unit = page.get_by_test_id("layer-SqueezeNet")
    expect(unit.get_by_test_id("layer-stat")).to_have_text("1000")
    unit.click()
    network = page.get_by_test_id("prop-Network")
    expect(network).to_have_value("SqueezeNet")
    assert "FireModule" in network.locator("option").all_inner_texts()
    unit.dblclick()
    expect(page.get_by_test_id("network-tab-SqueezeNet")).to_have_class(re.compile("active"))
    project = console.api(f"projects/{sample.stem}")
    backbone = next(n for n in project["networks"] if n["name"] == "SqueezeNet")
    expect(page.locator(".layer-box")).to_have_count(len(backbone["layers"]))
    page.screenshot(path=artifact("unit_network_opened.png"))
