"""Unit tests stay fast and offline: no sockets, no subprocesses (those belong in tests/integration).

Checked, not hoped: every unit test runs with socket connects/binds refused, and with process starts
refused when they come from our code (a test or ``feedmon``). Libraries that shell out on import
(croniter asks ``file`` for the CPU architecture) are let through: that is not the test's doing.
"""

from __future__ import annotations

import socket
import subprocess
import sysconfig
import traceback
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_OURS = (REPO / "tests", REPO / "include")


def _ours(filename: str) -> bool:
    path = Path(filename).resolve()
    return any(path.is_relative_to(root) for root in _OURS) and path != Path(__file__).resolve()


def _refuse(what: str) -> Any:
    def refuse(*_args: object, **_kwargs: object) -> Any:
        raise AssertionError(f"a unit test tried to {what}: move it to tests/integration")

    return refuse


def _popen_guard(original: Any) -> Any:
    def guarded(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        callers = [f.filename for f in traceback.extract_stack()[:-1]]
        innermost = next((f for f in reversed(callers) if not Path(f).resolve().is_relative_to(_STDLIB)), "")
        if _ours(innermost):
            _refuse("start a process")()
        original(self, *args, **kwargs)

    return guarded


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse(f"use a socket ({name})"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _popen_guard(subprocess.Popen.__init__))
