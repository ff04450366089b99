"""The live demo: Airflow and the dashboard up on the demo's data, and everything it
started stopped again on Ctrl-C, by process id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipeline.demo.live import group_alive, require_free_port, supervised
from pipeline.errors import FinsentError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _group_gone(pgid: int) -> bool:
    return not group_alive(pgid)


def test_children_and_theirs_are_stopped_when_interrupted(tmp_path: Path) -> None:
    groups = []
    with pytest.raises(KeyboardInterrupt), supervised(tmp_path / "logs") as children:
        for name in ("one", "two"):
            # A child that starts a grandchild: the whole process group must go.
            child = children.start(
                name, ["bash", "-c", "sleep 300 & sleep 300"], env=dict(os.environ), cwd=tmp_path
            )
            groups.append(child.process.pid)
        raise KeyboardInterrupt
    assert all(_group_gone(pgid) for pgid in groups)
    assert (tmp_path / "logs" / "one.log").is_file()


def test_a_child_that_dies_is_named_with_its_log(tmp_path: Path) -> None:
    with supervised(tmp_path / "logs") as children:
        child = children.start(
            "broken", ["bash", "-c", "exit 3"], env=dict(os.environ), cwd=tmp_path
        )
        child.process.wait(timeout=30)
        with pytest.raises(FinsentError, match=r"broken stopped \(exit 3\); see .*broken.log"):
            children.check()


def test_a_port_in_use_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            FinsentError, match=f"port {port} \\(the dashboard\\) is already in use"
        ):
            require_free_port(port, what="the dashboard")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.airflow
def test_the_live_demo_comes_up_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "finsent-demo"
    ports = {"feed": _free_port(), "airflow": _free_port(), "dashboard": _free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINSENT_", "AIRFLOW"))}
    env["FINSENT_DASHBOARD_PORT"] = str(ports["dashboard"])
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pipeline.cli import main; main()",
            "demo",
            "--home",
            str(home),
            "--feed-port",
            str(ports["feed"]),
            "--airflow-port",
            str(ports["airflow"]),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A terminal's Ctrl-C reaches a process whose SIGINT is not ignored; a suite started
        # in the background (`make test &`) passes SIGINT on ignored, and Python then never
        # turns it into KeyboardInterrupt. Restore what a terminal gives.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 480
        while "finsent demo is running" not in (tmp_path / "demo.log").read_text():
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
            time.sleep(2)
        output = (tmp_path / "demo.log").read_text()
        assert "ALERT firing" in output
        assert f"http://127.0.0.1:{ports['dashboard']}" in output
        health = f"http://127.0.0.1:{ports['dashboard']}/_stcore/health"
        assert httpx.get(health, timeout=10, trust_env=False).status_code == 200
        api = f"http://127.0.0.1:{ports['airflow']}/api/v2/monitor/health"
        assert httpx.get(api, timeout=10, trust_env=False).status_code == 200
        children = subprocess.run(
            ["pgrep", "-f", str(home)], capture_output=True, text=True
        ).stdout.split()
        assert children  # the Airflow components and the dashboard run from its home
    finally:
        demo.send_signal(signal.SIGINT)  # what Ctrl-C does
        demo.send_signal(signal.SIGINT)  # twice, impatiently
        demo.wait(timeout=120)
        log.close()
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", f"{home}|{ports['dashboard']}"], capture_output=True)
    assert left.stdout.strip() == b"", "processes left behind: " + left.stdout.decode()
    assert "stopping the demo" in (tmp_path / "demo.log").read_text()
