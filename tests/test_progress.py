"""The lines `manage.py drain` prints for each process (operations/progress.py)."""

import io

from graceful_django.operations.progress import ProgressView


def _status(**changes):
    status = {
        "pid": 4242,
        "server": "daphne",
        "shutting_down": False,
        "ready": False,
        "drained": True,
        "requests": 0,
        "websockets": 0,
        "tasks": 0,
        "listening": ["127.0.0.1:8000"],
    }
    return {**status, **changes}


def test_a_process_that_closed_its_listeners_keeps_its_label():
    out = io.StringIO()
    view = ProgressView(out, tty=False)
    view.update("4242", _status())
    # Its listeners closed, then it exited: the status no longer names an address.
    view.finish({"4242": _status(listening=[], exited=True)})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("pid 4242 (daphne 127.0.0.1:8000): drained, ")
    assert lines[1].startswith("pid 4242 (daphne 127.0.0.1:8000): exited, ")


def test_a_process_never_seen_listening_has_no_address():
    out = io.StringIO()
    ProgressView(out, tty=False).finish({"1": _status(pid=1, listening=[])})
    assert out.getvalue().startswith("pid 1 (daphne): drained, ")
