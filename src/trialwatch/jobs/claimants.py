"""Who holds an outbox claim: owner names ``host:pid:start``, and which of them are gone.

A sender names itself ``host:pid:start`` (``start`` in whole Unix seconds) in every
claim it takes. A claim whose owner is on this host and no longer alive can go back
to the queue at once: its pid is not running, or the pid now belongs to a process
that started after the claim's owner did (a restart that reused the pid, as the pid
1 of a container does). Process start times come from ``/proc`` (Linux); without
it, only a pid that is not running counts as gone.
"""

from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path


def owner_name() -> str:
    """This process as a claim owner: ``host:pid:start``."""
    return f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"


def parse_owner(owner: str) -> tuple[str, int, int] | None:
    """``(host, pid, start)`` of an owner name, or None if it is not one."""
    host, sep, rest = owner.rpartition(":")
    host, sep2, pid = host.rpartition(":")
    if not (sep and sep2 and host and pid.isdigit() and rest.isdigit()):
        return None
    return host, int(pid), int(rest)


def is_gone(owner: str) -> bool:
    """True when ``owner`` names a process of this host that is no longer alive."""
    parsed = parse_owner(owner)
    if parsed is None:
        return False
    host, pid, start = parsed
    if host != socket.gethostname() or pid <= 0:
        return False  # another host: only its lease or the claim's age can tell
    if pid != os.getpid() and not _alive(pid):
        return True
    began = process_start(pid)
    # Owner names taken by that process start no earlier than the process (whole seconds;
    # one second of slack for the boot time's rounding).
    return began is not None and start < math.floor(began) - 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True


def process_start(pid: int) -> float | None:
    """When process ``pid`` started (Unix seconds), from /proc; None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
