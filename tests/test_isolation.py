"""Isolation: tests and notebooks cannot touch the network (guard in tests/support/netguard/)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import gruseg_netguard  # on sys.path via the root conftest.py

MESSAGE = gruseg_netguard.MESSAGE


def test_guard_is_active_in_the_test_process():
    assert gruseg_netguard.installed()
    with pytest.raises(OSError, match=MESSAGE):
        socket.create_connection(("example.com", 80), timeout=5)
    with pytest.raises(OSError, match=MESSAGE):
        socket.getaddrinfo("pypi.org", 443)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a literal address, no DNS
        with pytest.raises(OSError, match=MESSAGE):
            sock.connect(("93.184.215.14", 80))
        assert pytest.raises(OSError, sock.connect_ex, ("8.8.8.8", 53)).match(MESSAGE)


def test_loopback_still_works():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0].recv(5)))
    thread.start()
    with socket.create_connection(("localhost", port), timeout=5) as client:
        client.sendall(b"hello")
    thread.join(timeout=5)
    server.close()
    assert accepted == [b"hello"]


def test_guard_reaches_python_subprocesses():
    assert "netguard" in os.environ["PYTHONPATH"]
    code = "import socket; socket.create_connection(('example.com', 80), timeout=5)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and MESSAGE in result.stderr, result.stderr[-2000:]


def test_a_notebook_that_downloads_fails_in_its_kernel(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import socket\nsocket.create_connection(('example.com', 80), timeout=5)"),
    ])
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as excinfo:
        client.execute()
    assert MESSAGE in str(excinfo.value)
    assert "NetworkDisabledError" in str(excinfo.value)
