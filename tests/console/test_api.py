"""The console's HTTP API with FastAPI's TestClient: every endpoint, malformed input, path escapes, a training job
from a project through SSE to evaluation and report, a crashing job, token access, and `nnl console` itself."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from nnl.console.project import sample_project
from nnl.console.server import TOKEN_COOKIE, create_app
from nnl.console.workspace import Workspace
from nnl.data import load_mnist5k
from nnl.data.csv_datasets import write_image_classification_csv

from .conftest import read_text, require_samples

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _needs(module: str) -> None:
    if importlib.util.find_spec(f"nnl.console.{module}") is None:
        pytest.skip(f"nnl.console.{module} (console-model helper) is not there yet")


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


@pytest.fixture
def client(ws):
    with TestClient(create_app(ws)) as c:
        yield c


def _tiny_project(ws, name="tiny", epochs=2):
    """The LeNet sample on 64 training / 32 validation digits of the workspace, batch 16."""
    (x, y), (xv, yv) = load_mnist5k()
    folder = ws.datasets_dir / "tiny"
    if not (folder / "train.csv").exists():
        write_image_classification_csv(str(folder), "train.csv", "training", x[:64], y[:64])
        write_image_classification_csv(str(folder), "valid.csv", "validation", xv[:32], yv[:32])
    project = sample_project("datasets/tiny/train.csv", "datasets/tiny/valid.csv")
    project["name"] = name
    project["config"].update(max_epoch=epochs, batch_size=16, monitor_interval=1)
    return project


def _wait(client, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_general(client, ws):
    assert client.get("/api/health").json()["ok"] is True
    assert client.get("/api/config").json()["workspace"] == os.fspath(ws.root)
    page = client.get("/")
    assert page.status_code == 200 and ("not built" in page.text or "<div" in page.text)
    missing = client.get("/api/nothing/here")
    assert missing.status_code == 404 and "no API endpoint" in missing.json()["detail"]


def test_catalogue(client):
    _needs("catalogue")
    body = client.get("/api/catalogue").json()
    types = {layer["type"] for category in body["palette"] for layer in category["layers"]}
    assert {"Input", "Convolution", "Affine", "ReLU"} <= types and isinstance(body["unsupported"], list)


def test_projects_crud(client):
    assert [p["name"] for p in client.get("/api/projects").json()] == ["MNIST_LeNet"]  # the first-start sample
    created = client.post("/api/projects", json={"name": "mine"})
    assert created.status_code == 200 and created.json()["networks"][0]["name"] == "Main"
    assert client.post("/api/projects", json={"name": "mine"}).status_code == 409
    assert client.post("/api/projects", json={"name": "a/b"}).status_code == 400
    assert client.post("/api/projects", json={"name": 3}).status_code == 400
    assert client.post("/api/projects", json={"name": "x", "template": "odd"}).status_code == 400
    assert client.post("/api/projects", json={"name": "s", "template": "sample"}).json()["networks"][0]["layers"]
    project = client.get("/api/projects/mine").json()
    project["description"] = "edited"
    assert client.put("/api/projects/mine", json=project).status_code == 200
    assert client.get("/api/projects/mine").json()["description"] == "edited"
    bad = dict(project, networks=[{"name": "Main", "layers": [], "links": [{"id": 0, "source": 1, "source_pin": 0,
                                                                            "dest": 2, "dest_pin": 0}]}])
    response = client.put("/api/projects/mine", json=bad)
    assert response.status_code == 400 and "source 1 is not a layer" in response.json()["detail"]
    assert client.put("/api/projects/mine", json=[1, 2]).status_code == 400
    assert client.put("/api/projects/mine", content=b"{not json", headers={"content-type": "application/json"}
                      ).status_code == 422
    assert client.post("/api/projects/mine/copy", json={"name": "copy"}).json() == {"name": "copy"}
    assert client.post("/api/projects/mine/copy", json={}).json() == {"name": "mine_copy"}
    assert client.post("/api/projects/copy/rename", json={"name": "renamed"}).json() == {"name": "renamed"}
    assert client.delete("/api/projects/renamed").status_code == 200
    assert client.get("/api/projects/renamed").status_code == 404
    assert client.get("/api/projects/..%2F..%2Fetc").status_code in (400, 404)
    assert sorted(p["name"] for p in client.get("/api/projects").json()) == ["MNIST_LeNet", "mine", "mine_copy", "s"]


def test_import_and_export_sdcproj_unchanged(client):
    path = next(p for p in require_samples() if "squeezenet" in p.name)
    text = read_text(path)
    response = client.post("/api/projects/import", files={"file": (path.name, text.encode(), "text/plain")})
    assert response.status_code == 200
    name = response.json()["name"]
    assert name == path.stem
    again = client.post("/api/projects/import", files={"file": (path.name, text.encode(), "text/plain")})
    assert again.json()["name"] == path.stem + "_2"
    exported = client.get(f"/api/projects/{name}/export/sdcproj")
    assert exported.status_code == 200 and exported.content.decode() == text
    assert "attachment" in exported.headers["content-disposition"]
    native = client.get(f"/api/projects/{name}/export/nnlproj").content
    imported = client.post("/api/projects/import", data={"name": "native"},
                           files={"file": ("x.nnlproj", native, "application/json")})
    assert imported.json() == {"name": "native"}
    assert client.get("/api/projects/native/export/sdcproj").content.decode() == text


@pytest.mark.parametrize("filename, content, expected", [
    ("bad.sdcproj", b"[Engine]\nnot a pair\n", "bad.sdcproj: line 2: expected"),
    ("bad.sdcproj", b"\xff\xfe\x00", "not UTF-8"),
    ("bad.nnlproj", b"{", "not a JSON project file"),
    ("bad.nnlproj", b'{"name": "x", "networks": []}', "a project needs at least one network"),
    ("notes.txt", b"hello", "expected a .sdcproj"),
])
def test_malformed_uploads_are_refused(client, filename, content, expected):
    response = client.post("/api/projects/import", files={"file": (filename, content, "application/octet-stream")})
    assert response.status_code == 400 and expected in response.json()["detail"]
    assert client.get("/api/health").status_code == 200


def test_import_network_files(client, tmp_path):
    _needs("importers")
    _needs("compile")
    nntxt = client.get("/api/projects/MNIST_LeNet/export/nntxt")
    assert nntxt.status_code == 200 and "network {" in nntxt.text
    response = client.post("/api/projects/import", files={"file": ("lenet.nntxt", nntxt.content, "text/plain")})
    assert response.status_code == 200, response.text
    project = client.get(f"/api/projects/{response.json()['name']}").json()
    assert {"Convolution", "Affine"} <= {layer["type"] for n in project["networks"] for layer in n["layers"]}


def test_exports(client):
    _needs("compile")
    nnp = client.get("/api/projects/MNIST_LeNet/export/nnp")
    assert nnp.status_code == 200 and nnp.content[:2] == b"PK"  # a zip
    onnx = client.get("/api/projects/MNIST_LeNet/export/onnx")
    assert onnx.status_code == 200 and len(onnx.content) > 100
    assert client.get("/api/projects/MNIST_LeNet/export/docx").status_code == 400


def test_python_export(client):
    _needs("python_export")
    code = client.get("/api/projects/MNIST_LeNet/export/python")
    assert code.status_code == 200 and "def " in code.text
    project = client.get("/api/projects/MNIST_LeNet").json()
    assert "def " in client.post("/api/python", json={"project": project, "network": "Main"}).json()["code"]


def test_check_and_analyze(client):
    _needs("compile")
    project = client.get("/api/projects/MNIST_LeNet").json()
    assert client.post("/api/check", json={"project": project}).json() == {"errors": []}
    broken = json.loads(json.dumps(project))
    broken["networks"][0]["links"] = broken["networks"][0]["links"][1:]  # Input no longer feeds Convolution
    assert client.post("/api/check", json={"project": broken}).json()["errors"]
    assert client.post("/api/check", json={"nothing": 1}).status_code == 400
    _needs("analysis")
    result = client.post("/api/analyze", json={"project": project, "network": "Main"}).json()
    by_name = {layer["name"]: result["layers"][str(layer["id"])] for layer in project["networks"][0]["layers"]}
    assert by_name["Convolution"]["output_shape"] == [16, 22, 22]
    assert by_name["Affine_2"]["statistics"]["CostParameter"] == 150 * 10 + 10


def test_datasets(client, ws, tmp_path):
    (x, y), _ = load_mnist5k()
    write_image_classification_csv(str(ws.datasets_dir / "d"), "train.csv", "training", x[:5], y[:5])
    (ws.datasets_dir / "d" / "vectors.csv").write_text("x__0,x__1,x__2,y\n0.1,0.2,0.3,1\n0.4,0.5,0.6,0\n")
    assert [d["path"] for d in client.get("/api/datasets").json()] == ["datasets/d/train.csv",
                                                                      "datasets/d/vectors.csv"]
    preview = client.get("/api/datasets/preview", params={"path": "datasets/d/train.csv", "limit": 2}).json()
    assert preview["total"] == 5 and len(preview["rows"]) == 2
    assert [(v["name"], v["kind"], v["shape"]) for v in preview["variables"]] == [("x", "image", [1, 28, 28]),
                                                                                ("y", "scalar", [])]
    vectors = client.get("/api/datasets/preview", params={"path": "datasets/d/vectors.csv"}).json()
    assert [(v["name"], v["kind"], v["shape"]) for v in vectors["variables"]] == [("x", "vector", [3]),
                                                                                ("y", "scalar", [])]
    image = client.get("/api/datasets/image", params={"path": preview["rows"][0][0], "base": "datasets/d/train.csv",
                                                      "size": 16})
    assert image.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as thumbnail:
        assert thumbnail.size == (16, 16)
    (tmp_path / "outside.csv").write_text("x,y\n1,2\n")
    for params in ({"path": "../outside.csv"}, {"path": os.fspath(tmp_path / "outside.csv")}):
        response = client.get("/api/datasets/preview", params=params)
        assert response.status_code == 400 and "outside the workspace" in response.json()["detail"]
    assert client.get("/api/datasets/image", params={"path": "../../../x.png", "base": "datasets/d/train.csv"}
                      ).status_code == 400
    assert client.get("/api/datasets/preview", params={"path": "datasets/none.csv"}).status_code == 404
    # a dataset from an image folder (one sub-folder per class)
    for label in ("cat", "dog"):
        (ws.root / "images" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((np.random.RandomState(i).rand(12, 10, 3) * 255).astype(np.uint8)).save(
                ws.root / "images" / label / f"{i}.png")
    made = client.post("/api/datasets/image-folder", json={"source": "images", "output": "datasets/pets",
                                                           "channels": 1, "width": 8, "height": 8})
    assert made.status_code == 200 and made.json() == {"written": ["datasets/pets/train.csv"]}
    pets = client.get("/api/datasets/preview", params={"path": "datasets/pets/train.csv"}).json()
    assert pets["total"] == 6 and pets["variables"][0]["shape"] == [1, 8, 8]
    assert client.post("/api/datasets/image-folder", json={"source": "../..", "output": "x", "width": 8,
                                                           "height": 8}).status_code == 400


def test_training_job_end_to_end(client, ws):
    _needs("compile")
    project = _tiny_project(ws)
    assert client.put("/api/projects/tiny", json=project).status_code == 200
    submitted = client.post("/api/jobs", json={"project": "tiny"})
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["id"]
    status = _wait(client, job_id)
    assert status["state"] == "finished", status.get("error")
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job_id]
    metrics = client.get(f"/api/jobs/{job_id}/metrics").json()
    assert metrics["progress"]["epoch"] == 2 and set(metrics["series"]) == {"cost", "train_error", "valid_error"}
    # SSE: every point replayed, then the state, then done
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        text = "".join(stream.iter_text())
    events = [(m.group(1), json.loads(m.group(2))) for m in re.finditer(r"event: (\w+)\r?\ndata: (.*)\r?\n", text)]
    replayed = {}
    for kind, data in events:
        if kind == "metric":
            replayed.setdefault(data["name"], []).append([data["epoch"], data["value"]])
    assert replayed == metrics["series"]
    assert events[-1] == ("done", {"state": "finished"}) and ("state", {"state": "finished",
                                                                        "progress": metrics["progress"]}) in events
    assert client.get("/api/curves", params={"jobs": job_id}).json() == {job_id: metrics["series"]}
    tradeoff = client.get("/api/tradeoff").json()
    assert [p["job"] for p in tradeoff] == [job_id] and tradeoff[0]["error"] == min(
        v for _, v in metrics["series"]["valid_error"])
    assert "train" in client.get(f"/api/jobs/{job_id}/log").json()["log"]
    nnp = client.get(f"/api/jobs/{job_id}/export/nnp")
    assert nnp.status_code == 200 and nnp.content[:2] == b"PK"
    # evaluation
    assert client.get(f"/api/jobs/{job_id}/evaluation").status_code == 404
    evaluation_job = client.post(f"/api/jobs/{job_id}/evaluate", json={}).json()["id"]
    assert _wait(client, evaluation_job)["state"] == "finished"
    result = client.get(f"/api/jobs/{job_id}/evaluation", params={"limit": 5}).json()
    assert result["job"] == evaluation_job and result["total"] == 32 and len(result["rows"]) == 5
    matrix = result["confusion_matrices"]["y'"]
    assert sum(map(sum, matrix["matrix"])) == 32
    assert sum(result["likelihood"]["y'"]["correct"]) + sum(result["likelihood"]["y'"]["wrong"]) == 32
    thumbnail = client.get(f"/api/jobs/{job_id}/image", params={"path": result["rows"][0][0]})
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/png"
    assert client.get(f"/api/jobs/{job_id}/image", params={"path": "../../../../etc/passwd"}).status_code == 400
    if importlib.util.find_spec("nnl.report") is not None and importlib.util.find_spec("pptx") is not None:
        report = client.get(f"/api/jobs/{job_id}/report", params={"format": "pptx"})
        assert report.status_code == 200, report.text
        import pptx

        assert len(pptx.Presentation(io.BytesIO(report.content)).slides) > 1
    assert client.post(f"/api/jobs/{job_id}/resume").status_code == 409
    assert client.post(f"/api/jobs/{job_id}/fly").status_code == 404
    assert client.delete(f"/api/jobs/{evaluation_job}").status_code == 200
    assert client.get(f"/api/jobs/{evaluation_job}").status_code == 404


def test_jobs_refuse_bad_projects_and_report_crashes(client, ws):
    _needs("compile")
    assert client.post("/api/jobs", json={}).status_code == 400
    assert client.post("/api/jobs", json={"project": "nope"}).status_code == 404
    escaping = _tiny_project(ws)
    escaping["datasets"][0]["uri"] = "../../outside.csv"
    response = client.post("/api/jobs", json={"document": escaping})
    assert response.status_code == 400 and "outside the workspace" in response.json()["detail"]
    broken = _tiny_project(ws)
    broken["networks"][0]["links"] = []
    assert client.post("/api/jobs", json={"document": broken}).status_code == 400  # never reaches training
    # a job whose images are gone crashes: reported failed with its log, the server keeps serving
    crashing = _tiny_project(ws, name="crash")
    (ws.datasets_dir / "bad").mkdir()
    (ws.datasets_dir / "bad" / "train.csv").write_text("x:image,y:label\n" + "./missing.png,1\n" * 64)
    crashing["datasets"][0]["uri"] = "datasets/bad/train.csv"
    job = client.post("/api/jobs", json={"document": crashing})
    assert job.status_code == 200, job.text
    status = _wait(client, job.json()["id"])
    assert status["state"] == "failed" and "missing.png" in status["error"]
    assert client.get("/api/health").json()["ok"]
    assert client.get("/api/jobs/not-a-job").status_code == 404
    assert client.get("/api/jobs/..%2F..").status_code in (400, 404)


def test_token_access(ws):
    with TestClient(create_app(ws, token="s3cret")) as c:
        assert c.get("/api/health").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        first = c.get("/api/health", params={"token": "s3cret"})
        assert first.status_code == 200 and first.cookies.get(TOKEN_COOKIE) == "s3cret"
        assert c.get("/api/projects").status_code == 200  # the cookie carries it now
    with TestClient(create_app(ws, token="s3cret")) as c:
        assert c.get("/api/projects", params={"token": "other"}).status_code == 401


def _start_console(tmp_path, *extra):
    process = subprocess.Popen([sys.executable, "-m", "nnl.cli.main", "console", "--port", "0", "--no-browser",
                                "--workspace", os.fspath(tmp_path / "cli-ws"), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONPATH=os.fspath(Path(__file__).resolve().parents[2])))
    lines = []
    while True:
        line = process.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
        if "open http" in line:
            return process, line.split("open ", 1)[1].strip()


def test_nnl_console_command(tmp_path):
    process, url = _start_console(tmp_path)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and not url.endswith(":0/")
        with urllib.request.urlopen(url + "api/health", timeout=10) as response:
            assert json.loads(response.read())["ok"] is True
    finally:
        process.terminate()
        assert process.wait(timeout=20) in (0, -15)  # uvicorn shuts down cleanly, then re-raises SIGTERM
    process, url = _start_console(tmp_path, "--host", "0.0.0.0")
    try:
        token = re.search(r"\?token=(\w+)$", url).group(1)
        port = re.search(r":(\d+)/", url).group(1)
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/health",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_sample_lenet_trains_one_epoch_from_a_fresh_workspace(client, ws):
    """The first-start experience: the sample project (its MNIST written on first use) trains one epoch."""
    _needs("compile")
    project = client.get("/api/projects/MNIST_LeNet").json()
    project["config"]["max_epoch"] = 1
    job = client.post("/api/jobs", json={"document": project}).json()
    status = _wait(client, job["id"], timeout=900)
    assert status["state"] == "finished", status.get("error")
    errors = client.get(f"/api/jobs/{job['id']}/metrics").json()["series"]["valid_error"]
    assert len(errors) == 1 and errors[0][1] < 0.5  # one epoch of LeNet on 4,000 digits


def test_training_on_a_chosen_device(client, ws):
    """/config lists the extensions training can use; a job runs `nnl train -C <device>`; unknown devices: 400."""
    _needs("compile")
    devices = client.get("/api/config").json()["devices"]
    assert devices[0] == "cpu"
    assert ("torch" in devices) == (importlib.util.find_spec("torch") is not None)
    project = _tiny_project(ws)
    assert client.put("/api/projects/tiny", json=project).status_code == 200
    refused = client.post("/api/jobs", json={"project": "tiny", "device": "tpu"})
    assert refused.status_code == 400 and "available" in refused.json()["detail"]
    device = devices[-1]
    job = client.post("/api/jobs", json={"project": "tiny", "device": device}).json()
    assert job["device"] == device and job["command"][-2:] == (["-C", device] if device else [])
    assert _wait(client, job["id"])["state"] == "finished"
