"""Start the nnl console (Neural Network Console in the browser): projects, networks, training, evaluation.

Example: ``nnl console`` (opens http://127.0.0.1:8000/), ``nnl console --port 0 --no-browser`` (a free port),
``nnl console --host 0.0.0.0`` (reachable from other machines: the printed URL carries the access token).
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import socket


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--workspace", help="workspace folder (default ~/nnl-workspace)")
    parser.add_argument("--max-jobs", type=int, default=1, help="training jobs run at once (default 1)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (no token needed then)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import webbrowser

    import uvicorn

    from nnl.console.server import create_app
    from nnl.console.workspace import Workspace

    if args.max_jobs < 1:
        raise ValueError(f"--max-jobs must be at least 1, got {args.max_jobs}")
    token = None if is_loopback(args.host) else secrets.token_hex(24)
    workspace = Workspace(args.workspace)
    app = create_app(workspace, token=token, max_jobs=args.max_jobs)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)  # bound here so that --port 0 is known before the URL is printed
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # connections wait for the server instead of being refused while it starts
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"nnl console: workspace {workspace.root}\nnnl console: open {url}", flush=True)
    if not args.no_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
    return 0
