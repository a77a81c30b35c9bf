"""Make Prefect's temporary local API server die with the process that started it.

With ``PREFECT_API_URL`` unset, Prefect starts a local API server (uvicorn, about
200 MB) as a child process and stops it from an ``atexit`` hook. A SIGKILLed or
OOM-killed ``ragwright index run`` runs no hook, so every killed ingest left an
orphaned server behind (parent pid 1), still alive half an hour later.

Prefect 3.8.8 starts that child in ``SubprocessASGIServer._run_uvicorn_command``
with a plain ``subprocess.Popen``: no hook to set ``PR_SET_PDEATHSIG`` in the
child (which would also fire when the *thread* that started it ends, and Prefect
starts it from whichever thread first needs a client). So the server started
through :func:`tie_ephemeral_api` gets a small watchdog process,
``python -m ragwright.flows.watchdog``, which polls its own parent (us) and, once
we are gone, terminates the server (SIGTERM, then SIGKILL) and exits itself. It
holds a pidfd of the server, so it can never signal a recycled pid, and it exits
as soon as the server does.

This relies on two private names of Prefect's (the class's ``_instances``
registry and ``_run_uvicorn_command``); prefect is pinned, and
``tests/test_ingest_faults.py`` fails if they stop taking effect.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.server.api.server import SubprocessASGIServer

__all__ = ["tie_ephemeral_api"]


@functools.cache
def _tied_server_class() -> type[SubprocessASGIServer]:
    """Built on first use: importing Prefect's server module costs ~1.7 s."""
    from prefect.server.api.server import SubprocessASGIServer

    class TiedServer(SubprocessASGIServer):
        """The ephemeral server, watched by a process that stops it when we die."""

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            server = super()._run_uvicorn_command()
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ragwright.flows.watchdog",
                    str(os.getpid()),
                    str(server.pid),
                ],
                stdin=subprocess.DEVNULL,
            )
            return server

    return TiedServer


def tie_ephemeral_api() -> bool:
    """Make the ephemeral API this process will start die with it; False if not applicable.

    Call before the first flow runs. Nothing to do when ``PREFECT_API_URL`` points at a
    server (nothing is started), or when a server is already running in this process.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return False
    tied = _tied_server_class()
    current = SubprocessASGIServer._instances.get(None)
    if isinstance(current, tied):
        return True
    if current is not None and current.running:
        return False
    SubprocessASGIServer._instances.pop(None, None)
    tied()  # registers itself: Prefect's own SubprocessASGIServer() now returns it
    return True
