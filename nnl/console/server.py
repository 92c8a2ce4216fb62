"""The console's HTTP server: a JSON API over nnl's console modules, plus the built UI (``nnl/console/static``).

``create_app(workspace, token=None, max_jobs=1)`` returns the FastAPI app. Errors are JSON ``{"detail": message}``
with 400 (bad input), 401 (token), 404 (unknown), 409 (state/name conflict), 413 (upload too big), 501 (a part of
the console that is not installed); an unexpected error gives 500 and the server keeps serving.

Endpoints (all under ``/api``; ``{name}`` is a project name, ``{job}`` a job id):

- ``GET  /health`` -> ``{"ok": true, "version"}``; ``GET /config`` -> workspace folder, job limit, version,
  ``devices`` (the extensions training can run on here: ``cpu``, ``torch``, ``cudnn``).
- ``GET  /catalogue`` -> ``{"palette": catalogue.palette(), "unsupported": catalogue.unsupported()}``.
- ``GET  /projects`` -> ``[{"name", "modified", "description"|"error"}]``, newest first.
- ``POST /projects`` ``{"name", "template": "empty"|"sample"}`` -> the new project (409 if the name is taken).
- ``GET  /projects/{name}``; ``PUT /projects/{name}`` (body: the project document; validated, saved atomically;
  the URL's name wins); ``DELETE /projects/{name}``.
- ``POST /projects/{name}/copy`` ``{"name"}`` and ``POST /projects/{name}/rename`` ``{"name"}``.
- ``POST /projects/import`` (multipart ``file``: ``.sdcproj``, ``.nnlproj``, ``.nntxt``, ``.nnp``, ``.onnx``;
  optional form field ``name``) -> ``{"name"}`` (a free name: ``x``, ``x_2``...).
- ``GET  /projects/{name}/export/{format}`` with ``format`` in sdcproj, nnlproj, nntxt, nnp, onnx, python
  (``?network=`` for python) -> the file as an attachment.
- ``POST /analyze`` ``{"project", "network"}`` -> ``analysis.analyze`` (shapes and the seven statistics per layer).
- ``POST /check`` ``{"project"}`` -> ``{"errors": compile.check(project)}``.
- ``POST /python`` ``{"project", "network"}`` -> ``{"code"}``.
- ``GET  /datasets`` -> the workspace's CSV datasets; ``GET /datasets/preview?path=&offset=&limit=`` -> variables
  (kind, shape), row count, a page of rows; ``GET /datasets/image?path=&base=&size=`` -> a PNG thumbnail (``path``
  relative to the CSV ``base``, all inside the workspace); ``POST /datasets/image-folder`` ``{"source", "output",
  "channels", "width", "height", "mode", "shuffle", "ratio1", "file2", "ratio2"}`` -> the CSVs written.
- ``GET  /jobs``; ``POST /jobs`` ``{"project": name}`` or ``{"document": project}``, optional ``"device"`` (one of
  ``/config``'s devices: ``nnl train -C``) -> the queued training job;
  ``GET /jobs/{job}``; ``DELETE /jobs/{job}``; ``POST /jobs/{job}/stop|suspend|resume``; ``GET /jobs/{job}/log``.
- ``GET  /jobs/{job}/metrics`` -> state, progress, every monitor series; ``GET /jobs/{job}/events`` -> server-sent
  events: ``state`` ``{state, progress}`` and ``metric`` ``{name, epoch, value}`` (all past points first, then live),
  ending with ``done`` ``{state}`` when the job is over (close the EventSource then: it would reconnect).
- ``GET  /curves?jobs=a,b`` -> ``{job: series}`` to overlay; ``GET /tradeoff?statistic=CostMultiplyAdd`` -> per
  finished training job its best validation error and the statistic's network total, ``pareto`` marking the front.
- ``POST /jobs/{job}/evaluate`` ``{"dataset"?}`` -> the queued evaluation job; ``GET /jobs/{job}/evaluation?offset=
  &limit=`` -> table page, confusion matrices, likelihood histograms (``job``: an evaluation job, or a training job
  for its latest finished evaluation); ``GET /jobs/{job}/image?path=&size=`` -> a thumbnail of an image cell of the
  evaluation table.
- ``GET  /jobs/{job}/export/{nnp|onnx}`` -> the trained model; ``GET /jobs/{job}/report?format=pptx|html`` -> the
  report (``nnl.report.write_report``).

Access: on a loopback host no token is needed. Otherwise every request needs the token: ``?token=`` once (then a
cookie keeps it), the cookie, or ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sse_starlette.sse import EventSourceResponse

from nnl.console.jobs import TERMINAL, JobError, JobManager, JobNotFoundError, JobStateError, log_tail, read_series
from nnl.console.project import ProjectError, dump_project, new_project, parse_project, sample_project
from nnl.console.sdcproj import SdcprojError, read_sdcproj, write_sdcproj
from nnl.console.workspace import (
    ConflictError,
    NotFoundError,
    Workspace,
    WorkspaceError,
    preview_dataset,
    thumbnail_png,
)

__all__ = ["create_app", "STATIC_DIR", "TOKEN_COOKIE"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
TOKEN_COOKIE = "nnl_console_token"
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
_NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>nnl console</title></head>
<body><h1>nnl console</h1><p>The user interface is not built yet (nnl/console/static has no index.html).
The JSON API is served under <a href="api/health">/api</a>.</p></body></html>"""
_STATUS = ((NotFoundError, 404), (JobNotFoundError, 404), (ConflictError, 409), (JobStateError, 409),
           (ProjectError, 400), (SdcprojError, 400), (WorkspaceError, 400), (JobError, 400), (ValueError, 400))


def training_devices() -> list[str]:
    """The extensions ``nnl train -C`` can use on this machine, the default first: ``cpu`` (NumPy), ``torch``
    (PyTorch on the CPU) when PyTorch is installed, ``cudnn`` when it sees a CUDA GPU."""
    devices = ["cpu"]
    try:
        import torch
    except ImportError:
        return devices
    devices.append("torch")
    if torch.cuda.is_available():
        devices.append("cudnn")
    return devices


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nnl")
    except PackageNotFoundError:
        return "unknown"


def _model(module: str) -> Any:
    """A console-model module (compile, analysis, catalogue, python_export, importers), or 501 if absent."""
    import importlib

    try:
        return importlib.import_module(f"nnl.console.{module}")
    except ImportError as e:
        raise HTTPException(501, f"nnl.console.{module} is not available: {e}") from None


def _attachment(content: bytes | str, filename: str, media_type: str) -> Response:
    data = content.encode("utf-8") if isinstance(content, str) else content
    quoted = filename.replace('"', "_")
    return Response(data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{quoted}"'})


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str):
        raise HTTPException(400, f"expected {{'name': <string>}}, got name={name!r}")
    return name


def create_app(workspace: Workspace | str | os.PathLike[str], token: str | None = None, max_jobs: int = 1) -> FastAPI:
    """The console app on ``workspace``; ``token``: required on every request when given (non-loopback hosts)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    manager = JobManager(ws, max_running=max_jobs)
    statistics_cache: dict[tuple[str, str], float | None] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ws.ensure_sample_project()
        manager.start()
        try:
            yield
        finally:
            manager.shutdown()

    app = FastAPI(title="nnl console", lifespan=lifespan)
    app.state.workspace, app.state.jobs, app.state.token = ws, manager, token

    # -- errors and access ------------------------------------------------------------------------------------------
    for error_type, code in _STATUS:
        def handler(_: Request, exc: Exception, code: int = code) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=code)

        app.add_exception_handler(error_type, handler)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.middleware("http")
    async def require_token(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if token is None:
            return await call_next(request)
        given = request.query_params.get("token")
        header = request.headers.get("authorization", "")
        candidates = [given, request.cookies.get(TOKEN_COOKIE), header[7:] if header.lower().startswith("bearer ")
                      else None]
        if not any(c and secrets.compare_digest(c, token) for c in candidates):
            return JSONResponse({"detail": "this console needs its access token: open the URL printed at start "
                                           "(…?token=…) or send 'Authorization: Bearer <token>'"}, status_code=401)
        response: Response = await call_next(request)
        if given:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    # -- general ----------------------------------------------------------------------------------------------------
    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": _version()}

    @app.get("/api/config")
    def config() -> dict[str, Any]:
        return {"workspace": os.fspath(ws.root), "max_jobs": manager.max_running, "version": _version(),
                "ui_built": (STATIC_DIR / "index.html").is_file(), "devices": training_devices()}

    @app.get("/api/catalogue")
    def catalogue() -> dict[str, Any]:
        module = _model("catalogue")
        return {"palette": module.palette(), "unsupported": module.unsupported()}

    # -- projects ---------------------------------------------------------------------------------------------------
    @app.get("/api/projects")
    def list_projects() -> list[dict[str, Any]]:
        return ws.list_projects()

    @app.post("/api/projects")
    def create_project(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        name, template = _name(body), body.get("template", "empty")
        if template not in ("empty", "sample"):
            raise HTTPException(400, f"template: expected 'empty' or 'sample', got {template!r}")
        project = new_project(name) if template == "empty" else {**sample_project(), "name": name}
        ws.save_project(project, name, overwrite=False)
        return ws.load_project(name)

    @app.get("/api/projects/{name}")
    def get_project(name: str) -> dict[str, Any]:
        return ws.load_project(name)

    @app.put("/api/projects/{name}")
    def put_project(name: str, project: Any = Body(...)) -> dict[str, Any]:
        if not isinstance(project, dict):
            raise HTTPException(400, "expected a project document (a JSON object)")
        ws.save_project({**project, "name": name}, name)
        return {"name": name}

    @app.delete("/api/projects/{name}")
    def delete_project(name: str) -> dict[str, Any]:
        ws.delete_project(name)
        return {"deleted": name}

    @app.post("/api/projects/{name}/copy")
    def copy_project(name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return {"name": ws.copy_project(name, body.get("name") or ws.free_name(f"{name}_copy"))}

    @app.post("/api/projects/{name}/rename")
    def rename_project(name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return {"name": ws.rename_project(name, _name(body))}

    @app.post("/api/projects/import")
    async def import_project(file: UploadFile = File(...), name: str | None = Form(None)) -> dict[str, Any]:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"{file.filename}: larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
        filename = os.path.basename(file.filename or "")
        stem, suffix = os.path.splitext(filename)
        suffix = suffix.lower()
        return await run_in_threadpool(_import, data, filename, name or stem or "imported", suffix)

    def _import(data: bytes, filename: str, wanted: str, suffix: str) -> dict[str, Any]:
        if suffix in (".sdcproj", ".nnlproj"):
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as e:
                raise HTTPException(400, f"{filename}: not UTF-8 text ({e})") from None
            project = read_sdcproj(text, name="imported", source=filename) if suffix == ".sdcproj" \
                else parse_project(text, source=filename)
        elif suffix in (".nntxt", ".nnp", ".onnx"):
            importers = _model("importers")
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "model" + suffix)
                Path(path).write_bytes(data)
                try:
                    project = importers.import_network_file(path)
                except (ValueError, KeyError, OSError) as e:
                    raise HTTPException(400, f"{filename}: cannot import: {e}") from None
        else:
            raise HTTPException(400, f"{filename!r}: expected a .sdcproj, .nnlproj, .nntxt, .nnp or .onnx file")
        try:
            name = ws.free_name(wanted)
        except WorkspaceError:
            name = ws.free_name("imported")
        return {"name": ws.save_project({**project, "name": name}, name, overwrite=False)}

    @app.get("/api/projects/{name}/export/{fmt}")
    def export_project(name: str, fmt: str, network: str | None = None) -> Response:
        project = ws.load_project(name)
        if fmt == "sdcproj":
            return _attachment(write_sdcproj(project), f"{name}.sdcproj", "text/plain; charset=utf-8")
        if fmt == "nnlproj":
            return _attachment(dump_project(project), f"{name}.nnlproj", "application/json")
        if fmt == "python":
            code = _model("python_export").to_python(project, network or project["networks"][0]["name"])
            return _attachment(code, f"{name}.py", "text/x-python; charset=utf-8")
        if fmt not in ("nntxt", "nnp", "onnx"):
            raise HTTPException(400, f"format: expected sdcproj, nnlproj, nntxt, nnp, onnx or python, got {fmt!r}")
        nntxt = _model("compile").to_nntxt(project, base_dir=os.fspath(ws.root))
        if fmt == "nntxt":
            return _attachment(nntxt, f"{name}.nntxt", "text/plain; charset=utf-8")
        return _converted(nntxt, name, fmt, network)

    def _converted(nntxt: str, name: str, fmt: str, network: str | None) -> Response:
        from nnl.cli.convert import convert

        with tempfile.TemporaryDirectory() as folder:
            source, target = os.path.join(folder, "net.nntxt"), os.path.join(folder, f"out.{fmt}")
            Path(source).write_text(nntxt, encoding="utf-8")
            try:
                convert([source], target, network=network)
            except (ValueError, KeyError, NotImplementedError) as e:
                raise HTTPException(400, f"cannot export {name!r} as {fmt}: {e}") from None
            return _attachment(Path(target).read_bytes(), f"{name}.{fmt}", "application/octet-stream")

    # -- the network model ------------------------------------------------------------------------------------------
    def _document(body: dict[str, Any]) -> dict[str, Any]:
        project = body.get("project")
        if not isinstance(project, dict):
            raise HTTPException(400, "expected {'project': <project document>, ...}")
        return project

    @app.post("/api/analyze")
    def analyze(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        project = _document(body)
        network = body.get("network") or project["networks"][0]["name"]
        return _model("analysis").analyze(project, network)

    @app.post("/api/check")
    def check(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return {"errors": _model("compile").check(_document(body))}

    @app.post("/api/python")
    def python(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        project = _document(body)
        network = body.get("network") or project["networks"][0]["name"]
        return {"code": _model("python_export").to_python(project, network)}

    # -- datasets ---------------------------------------------------------------------------------------------------
    @app.get("/api/datasets")
    def datasets() -> list[dict[str, Any]]:
        return ws.list_datasets()

    @app.get("/api/datasets/preview")
    def dataset_preview(path: str, offset: int = 0, limit: int = 20) -> dict[str, Any]:
        csv_path = ws.dataset_path(path)
        if not csv_path.is_file():
            raise NotFoundError(f"dataset {path!r} is not a file of the workspace")
        return {"path": ws.relative(csv_path), **preview_dataset(csv_path, max(0, offset), min(max(1, limit), 500))}

    @app.get("/api/datasets/image")
    def dataset_image(path: str, base: str | None = None, size: int = 128) -> Response:
        folder = ws.resolve(base).parent if base else ws.root
        return _thumbnail(ws.resolve(path, folder), size)

    def _thumbnail(image: Path, size: int) -> Response:
        if not image.is_file():
            raise NotFoundError(f"no image {ws.relative(image)!r}")
        try:
            png = thumbnail_png(image, min(max(8, size), 1024))
        except (OSError, ValueError) as e:
            raise HTTPException(400, f"{ws.relative(image)!r} is not a readable image: {e}") from None
        return Response(png, media_type="image/png")

    @app.post("/api/datasets/image-folder")
    def image_folder(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        from nnl.data.image_folder import create_image_classification_dataset

        source, output = ws.resolve(body.get("source", "")), ws.resolve(body.get("output", ""))
        if not source.is_dir():
            raise NotFoundError(f"source {body.get('source')!r} is not a folder of the workspace")
        try:
            written = create_image_classification_dataset(
                os.fspath(source), os.fspath(output), int(body.get("channels", 3)), int(body["width"]),
                int(body["height"]), body.get("mode", "trimming"), bool(body.get("shuffle", False)),
                body.get("seed"), body.get("file1", "train.csv"), body.get("ratio1"), body.get("file2"),
                body.get("ratio2"), skip_unreadable=bool(body.get("skip_unreadable", False)), progress=False)
        except KeyError as e:
            raise HTTPException(400, f"missing {e}") from None
        for path in written:
            ws.resolve(path)  # the file names come from the request too
        return {"written": [ws.relative(Path(p)) for p in written]}

    # -- jobs -------------------------------------------------------------------------------------------------------
    @app.get("/api/jobs")
    def list_jobs() -> list[dict[str, Any]]:
        return manager.list()

    @app.post("/api/jobs")
    def submit(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        if isinstance(body.get("document"), dict):
            project = body["document"]
        elif isinstance(body.get("project"), str):
            project = ws.load_project(body["project"])
        else:
            raise HTTPException(400, "expected {'project': <project name>} or {'document': <project document>}")
        device = body.get("device")
        if device is not None and device not in training_devices():
            raise HTTPException(400, f"device {device!r} is not available here; available: {training_devices()}")
        return manager.get(manager.submit_training(project, device=device))

    @app.get("/api/jobs/{job}")
    def get_job(job: str) -> dict[str, Any]:
        return manager.get(job)

    @app.delete("/api/jobs/{job}")
    def delete_job(job: str) -> dict[str, Any]:
        manager.delete(job)
        return {"deleted": job}

    @app.post("/api/jobs/{job}/{action}")
    def job_action(job: str, action: str, body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        if action == "evaluate":
            return manager.get(manager.submit_evaluation(job, (body or {}).get("dataset")))
        if action not in ("stop", "suspend", "resume"):
            raise HTTPException(404, f"no job action {action!r} (stop, suspend, resume, evaluate)")
        return dict(getattr(manager, action)(job))

    @app.get("/api/jobs/{job}/log")
    def job_log(job: str) -> dict[str, Any]:
        return {"log": log_tail(manager.job_dir(job) / "log.txt", 20000)}

    @app.get("/api/jobs/{job}/metrics")
    def job_metrics(job: str) -> dict[str, Any]:
        return manager.metrics(job)

    @app.get("/api/jobs/{job}/events")
    async def job_events(job: str) -> EventSourceResponse:
        manager.get(job)

        async def events() -> AsyncIterator[dict[str, str]]:
            sent: dict[str, int] = {}
            last_state: Any = None
            while True:
                metrics = await run_in_threadpool(manager.metrics, job)
                state = {"state": metrics["state"], "progress": metrics["progress"]}
                for name, points in metrics["series"].items():
                    for epoch, value in points[sent.get(name, 0):]:
                        yield {"event": "metric", "data": json.dumps({"name": name, "epoch": epoch, "value": value})}
                    sent[name] = len(points)
                if state != last_state:
                    yield {"event": "state", "data": json.dumps(state)}
                    last_state = state
                if metrics["state"] in TERMINAL:
                    yield {"event": "done", "data": json.dumps({"state": metrics["state"]})}
                    return
                await asyncio.sleep(0.25)

        return EventSourceResponse(events())

    @app.get("/api/curves")
    def curves(jobs: str) -> dict[str, Any]:
        return {job: read_series(manager.job_dir(job)) for job in jobs.split(",") if job}

    @app.get("/api/tradeoff")
    def tradeoff(statistic: str = "CostMultiplyAdd") -> list[dict[str, Any]]:
        points = []
        for status in manager.list():
            if status["kind"] != "train" or status["state"] != "finished":
                continue
            errors = read_series(manager.job_dir(status["id"])).get("valid_error")
            if not errors:
                continue
            key = (status["id"], statistic)
            if key not in statistics_cache:
                statistics_cache[key] = _statistic(status["id"], statistic)
            points.append({"job": status["id"], "project": status["project"], "error": min(v for _, v in errors),
                           "cost": statistics_cache[key]})
        for point in points:  # Pareto: no other job is at least as good in both and better in one
            point["pareto"] = point["cost"] is not None and not any(
                q is not point and q["cost"] is not None and q["error"] <= point["error"] and q["cost"] <= point["cost"]
                and (q["error"] < point["error"] or q["cost"] < point["cost"]) for q in points)
        return points

    def _statistic(job: str, statistic: str) -> float | None:
        project = json.loads((manager.job_dir(job) / "project.nnlproj").read_text(encoding="utf-8"))
        network = next((o["network"] for o in project.get("optimizers", [])), project["networks"][0]["name"])
        network = network if any(n["name"] == network for n in project["networks"]) else project["networks"][0]["name"]
        try:
            total = _model("analysis").analyze(project, network)["total"]
        except (ValueError, KeyError, HTTPException):  # not analysable, or no analysis module: no cost to plot
            return None
        value = total.get(statistic)
        return float(value) if isinstance(value, int | float) else None

    def _evaluation_job(job: str) -> str:
        status = manager.get(job)
        if status["kind"] == "evaluate":
            return job
        children = [s for s in manager.list() if s.get("parent") == job and s["state"] == "finished"]
        if not children:
            raise NotFoundError(f"training job {job!r} has no finished evaluation")
        return str(children[0]["id"])

    @app.get("/api/jobs/{job}/evaluation")
    def evaluation(job: str, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        eval_job = _evaluation_job(job)
        return {"job": eval_job, **manager.evaluation(eval_job, max(0, offset), min(max(1, limit), 500))}

    @app.get("/api/jobs/{job}/image")
    def evaluation_image(job: str, path: str, size: int = 128) -> Response:
        status = manager.get(_evaluation_job(job))
        dataset = ws.resolve(status["dataset_path"])
        candidate = ws.resolve(path, dataset.parent)  # a dataset column: relative to the CSV
        if not candidate.is_file():
            candidate = ws.resolve(path, manager.job_dir(status["id"]))  # an output image: beside the results
        return _thumbnail(candidate, size)

    @app.get("/api/jobs/{job}/export/{fmt}")
    def export_model(job: str, fmt: str) -> Response:
        model = manager.job_dir(job) / "results.nnp"
        if not model.is_file():
            raise JobStateError(f"job {job!r} has no trained model (results.nnp)")
        if fmt == "nnp":
            return _attachment(model.read_bytes(), f"{job}.nnp", "application/octet-stream")
        if fmt != "onnx":
            raise HTTPException(400, f"format: expected nnp or onnx, got {fmt!r}")
        from nnl.cli.convert import convert

        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, "model.onnx")
            try:
                convert([os.fspath(model)], target)
            except (ValueError, KeyError, NotImplementedError) as e:
                raise HTTPException(400, f"cannot export job {job!r} as ONNX: {e}") from None
            return _attachment(Path(target).read_bytes(), f"{job}.onnx", "application/octet-stream")

    @app.get("/api/jobs/{job}/report")
    def report(job: str, format: str = "pptx") -> Response:
        if format not in ("pptx", "html"):
            raise HTTPException(400, f"format: expected pptx or html, got {format!r}")
        status = manager.get(job)
        if status["kind"] != "train":
            raise JobStateError(f"job {job!r} is not a training job")
        try:
            from nnl.report import write_report
        except ImportError as e:
            raise HTTPException(501, f"reports are not available: {e}") from None
        evaluations = [s for s in manager.list() if s.get("parent") == job and s["state"] == "finished"]
        evaluation_dir = os.fspath(manager.job_dir(evaluations[0]["id"])) if evaluations else None
        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, f"report.{format}")
            write_report(os.fspath(manager.job_dir(job)), target, format, evaluation_dir=evaluation_dir)
            media = "text/html; charset=utf-8" if format == "html" else \
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            return _attachment(Path(target).read_bytes(), f"{status['project']}_{job}.{format}", media)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    def unknown(rest: str) -> None:
        raise HTTPException(404, f"no API endpoint /api/{rest}")

    # -- the UI, after every /api route -----------------------------------------------------------------------------
    if (STATIC_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    else:
        @app.get("/", response_class=HTMLResponse)
        def not_built() -> str:
            return _NOT_BUILT

    return app
