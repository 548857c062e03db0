"""Who holds a lease on a video job or a stream processor, and whether that holder is known to be gone.

A holder's name is `host:pid:nonce`. A lease runs out by itself; before then, a holder that is a process
of this machine that no longer runs (killed, crashed) has given up its work, and another may take it at
once. A holder on another machine is trusted until its lease ends.
"""

from __future__ import annotations

import os
import socket
import uuid


def holder_name() -> str:
    """A new holder name for this process (one per runner thread or supervisor)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a live process of another user
        return False
    return False


def holder_gone(holder: str) -> bool:
    """Whether `holder` is a process of this machine that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and _pid_gone(int(pid))
