from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from veye.errors import AlreadyRunning
from veye.lock import InstanceLock, lock_path_for

HOLD = """
import sys, time
from pathlib import Path
from veye.lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1])); lock.acquire()
print("held", flush=True); time.sleep(60)
"""


def test_a_second_holder_is_refused_and_a_killed_holder_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "veye.db.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert InstanceLock(path).is_held_elsewhere()
        with pytest.raises(AlreadyRunning, match=rf"pid {holder.pid}"):
            InstanceLock(path).acquire()
    finally:
        holder.kill()
        holder.communicate()
    assert not InstanceLock(path).is_held_elsewhere()
    with InstanceLock(path):
        pass


def test_lock_paths() -> None:
    assert lock_path_for("sqlite:////var/lib/veye/veye.db") == Path("/var/lib/veye/veye.db.lock")
    assert lock_path_for("sqlite:///:memory:") is None
    assert lock_path_for("postgresql+psycopg://u@h/db") is None
