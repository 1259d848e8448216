"""How the fork server's template names the signal that ended a worker it forked: as Node names
it, for every signal, real-time ones included (``signal.Signals`` has no member for most of them,
and its ``ValueError`` ended the template with every worker)."""
from __future__ import annotations

import signal

from snakepit_bridge.forkserver import signal_name


def test_a_signal_python_has_no_member_for_is_still_named():
    assert signal_name(int(signal.SIGKILL)) == "SIGKILL"
    rtmin = int(signal.SIGRTMIN)
    assert signal_name(rtmin + 6) == "SIGRTMIN+6"
    assert signal_name(rtmin) == "SIGRTMIN"
