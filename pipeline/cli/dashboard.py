"""``finsent dashboard``: the analysts' Streamlit app on FINSENT_DASHBOARD_HOST:PORT."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from importlib.util import find_spec
from pathlib import Path

import typer

from pipeline.cli.app import app
from pipeline.errors import FinsentError
from pipeline.settings import Settings, get_settings

# The app lives beside the package in the repository (dashboard/ is UI only, not installed).
DASHBOARD_APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses: nobody else can reach the dashboard."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _oidc_configured() -> bool:
    """Streamlit's [auth] section in a secrets file it reads (project, then user)."""
    for folder in (Path.cwd() / ".streamlit", Path.home() / ".streamlit"):
        secrets = folder / "secrets.toml"
        try:
            if "[auth" in secrets.read_text(encoding="utf-8"):
                return True
        except OSError:
            continue
    return False


def streamlit_command(settings: Settings, *, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard (what ``finsent dashboard``
    executes; the demo and the tests start it the same way)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        # A deployed dashboard does not reload itself when its files change.
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        # Analysts get the app's menu without Streamlit's developer items ("Deploy", ...).
        "--client.toolbarMode",
        "viewer",
    ]


def _require_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise FinsentError(
                    f"port {port} on {host} is already in use; stop what uses it or set "
                    "FINSENT_DASHBOARD_PORT"
                ) from None
            raise FinsentError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; check "
                "FINSENT_DASHBOARD_HOST"
            ) from None


@app.command("dashboard")
def dashboard(
    host: str | None = typer.Option(None, "--host", help="Default FINSENT_DASHBOARD_HOST."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Default FINSENT_DASHBOARD_PORT."
    ),
) -> None:
    """Serve the analysts' dashboard (Streamlit) until Ctrl-C."""
    settings = get_settings()
    host = (host or settings.dashboard_host).strip()
    port = port or settings.dashboard_port
    if find_spec("streamlit") is None:
        raise FinsentError("the dashboard needs Streamlit: pip install 'finsent[dashboard]'")
    if not DASHBOARD_APP.is_file():
        raise FinsentError(f"no dashboard app at {DASHBOARD_APP}")
    _require_free(host, port)
    if not is_loopback(host) and settings.dashboard_password is None and not _oidc_configured():
        typer.echo(
            f"finsent: warning: the dashboard on {host} is open to anyone who can reach it; "
            "set FINSENT_DASHBOARD_PASSWORD or configure OIDC (see README, The dashboard)",
            err=True,
        )
    typer.echo(f"finsent dashboard on http://{host}:{port}", err=True)
    command = streamlit_command(settings, host=host, port=port)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: Ctrl-C, SIGTERM and the exit status are Streamlit's own, and
    # whoever started `finsent dashboard` (the demo, a service manager) holds its pid.
    os.execv(command[0], command)
