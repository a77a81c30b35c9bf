"""Stop a server once our parent is gone: ``python -m ragwright.flows.watchdog PARENT SERVER``.

Started by :mod:`ragwright.flows.ephemeral` next to Prefect's ephemeral API server.
Every half second it checks whether its parent is still ``PARENT``; when the parent
has died (SIGKILL included: nothing runs in it), it sends the server SIGTERM, then
SIGKILL after a grace period, and exits. It exits at once when the server exits on
its own. On Linux it signals the server through a pidfd, so a pid recycled after the
server's exit is never hit. Standard library only: it must start in milliseconds.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

POLL_S = 0.5
GRACE_S = 5.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch(parent: int, server: int) -> None:
    """Return when the server is gone, having stopped it if the parent died first."""
    pidfd = os.pidfd_open(server) if hasattr(os, "pidfd_open") else None

    def exited(timeout_s: float) -> bool:
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(int(timeout_s * 1000)))
        time.sleep(timeout_s)
        return not _alive(server)

    def send(sig: signal.Signals) -> None:
        try:
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, sig)
            else:
                os.kill(server, sig)
        except ProcessLookupError:
            pass

    while os.getppid() == parent:
        if exited(POLL_S):
            return
    send(signal.SIGTERM)
    if not exited(GRACE_S):
        send(signal.SIGKILL)


def main(argv: list[str]) -> int:
    # Ctrl+C reaches the whole process group; the parent decides what happens then.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent, server = int(argv[1]), int(argv[2])
    try:
        watch(parent, server)
    except ProcessLookupError:  # the server was gone before we looked
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
