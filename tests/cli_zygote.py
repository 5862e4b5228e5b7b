"""A warm `python -m studio`: imports the studio once, then forks one process per command.

`tests/cli_runner.py` starts one per test process and sends it a JSON line per command (arguments, the whole
environment, files for stdout and stderr, a timeout); it answers a JSON line with the exit code. Each command
runs in a process of its own, forked from this one before anything ran, so it starts as `python -m studio`
starts (nothing of another command's state, the environment given, stdin empty), only without paying for the
interpreter's start and the imports each time (about 0.8 s, a few hundred times in a run).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pkgutil
import signal
import sys
import time
import traceback
from typing import Any


def warm() -> None:
    """Import every studio module a command may import (not its migrations: Alembic loads those by path)."""
    import studio

    for module in pkgutil.walk_packages(studio.__path__, "studio."):
        if ".migrations" not in module.name and module.name != "studio.__main__":
            importlib.import_module(module.name)


def child(request: dict[str, Any]) -> None:
    """Become `python -m studio ARGS` with the request's environment and streams; never returns."""
    code = 1
    args: list[str] = list(request["args"])
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.argv = ["studio", *args]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from studio.cli import main

        try:
            code = main(args)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if stop.code is not None and not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def serve() -> None:
    warm()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request)
        deadline = time.monotonic() + float(request["timeout"])
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.005)
        answer = {"code": os.waitstatus_to_exitcode(status), "timed_out": timed_out}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
