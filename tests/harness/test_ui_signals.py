"""``harness ui`` stopped by SIGTERM or SIGINT stops the server's whole process group (MLflow's UI
runs workers of its own): nothing is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

# a stand-in server: a process that starts a worker of its own, prints both PIDs, then waits
SERVER = (
    "import subprocess, sys, time; "
    "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
    "print(w.pid, flush=True); time.sleep(300)"
)
HOST = "import sys; from harness.__main__ import serve; sys.exit(serve(sys.argv[1:]))"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_and_its_workers_stop_with_the_ui(sig):
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, sys.executable, "-c", SERVER],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = int(host.stdout.readline())
    server_group = os.getpgid(worker)
    assert server_group != os.getpgid(host.pid)  # the server runs in its own group
    host.send_signal(sig)
    assert host.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker)
