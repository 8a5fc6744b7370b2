"""Atomic writes under SIGKILL: a reader finds the old file or the new one, never a mix; leftovers are swept."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.storage import exclusive, sweep

SIZE = 16 * 1024 * 1024  # large enough that most of the child's time is spent inside a write

# The child alternates two generations of the same target forever and says "ready" once the first is in place.
WRITER = """
import sys
from pathlib import Path
from grader.storage import replace_dir, write_atomic
target, size, kind = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
i = 0
while True:
    letter = b"AB"[i % 2 : i % 2 + 1]
    if kind == "file":
        write_atomic(target, letter * size)
    else:
        with replace_dir(target) as folder:
            for part in range(4):
                (folder / f"part{part}").write_bytes(letter * (size // 4))
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def _kill_on_events(target: Path, kind: str, check) -> int:
    """SIGKILL the writer 8 times, each at an event, not after a sleep: 4 times as soon as a write is seen in flight
    (its temporary file or folder exists), 4 times right after a write was renamed into place; `check` the target
    after each. Returns how many kills left a temp."""
    caught = 0
    for n in range(8):
        command = [sys.executable, "-c", WRITER, str(target), str(SIZE), kind]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            stamp = _stamp(target)
            while child.poll() is None and not (_in_flight(target) if n % 2 == 0 else _stamp(target) != stamp):
                pass  # busy-waits for the event: a sleep here could step over a whole write
            child.send_signal(signal.SIGSTOP)  # frozen as soon as the event is seen
            assert child.poll() is None
            os.kill(child.pid, signal.SIGKILL)
        check(target)
        leftovers = [p for p in target.parent.iterdir() if p.name.startswith(".")]
        caught += bool(leftovers)
        sweep(target.parent)
        assert [p.name for p in target.parent.iterdir()] in ([target.name], [])
    return caught


def _in_flight(target: Path) -> bool:
    return any(p.name.startswith(f".{target.name}") for p in target.parent.iterdir())


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _one_generation(data: bytes, size: int) -> None:
    assert len(data) == size, f"{len(data)} bytes of {size}: a half-written file"
    assert data[:1] in (b"A", b"B") and data.count(data[:1]) == size, "two generations mixed in one file"


def test_a_file_killed_mid_write_is_the_old_or_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.pdf"
    caught = _kill_on_events(target, "file", lambda t: _one_generation(t.read_bytes(), SIZE))
    assert caught >= 1  # at least one kill landed inside a write (its temp file was left), so the test bites


def test_a_folder_killed_mid_build_is_the_old_or_the_new_one(tmp_path: Path) -> None:
    def check(target: Path) -> None:
        if not target.exists():  # killed between its two renames: no folder, and the stage that needs it re-runs
            return
        parts = sorted(target.iterdir())
        assert [p.name for p in parts] == [f"part{i}" for i in range(4)]
        _one_generation(b"".join(p.read_bytes() for p in parts), SIZE)
        assert len({p.read_bytes()[:1] for p in parts}) == 1  # one generation, not two mixed

    assert _kill_on_events(tmp_path / "out" / "adapter", "folder", check) >= 1


def test_sweep_removes_leftovers_only_and_follows_no_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    folder = tmp_path / "out"
    (folder / ".adapter.old").mkdir(parents=True)
    (folder / ".adapter.old" / "w").write_text("x")
    (folder / ".report.pdf.k2j3.tmp").write_text("half")
    (folder / ".link.tmp").symlink_to(outside, target_is_directory=True)
    for kept in ("report.pdf", "train.json", ".cache"):
        (folder / kept).write_text("x")
    sweep(folder)
    assert sorted(p.name for p in folder.iterdir()) == [".cache", "report.pdf", "train.json"]
    assert (outside / "keep.txt").read_text() == "x"


def test_one_run_per_output_folder_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    hold = (
        "import sys, time\nfrom pathlib import Path\nfrom grader.storage import exclusive\n"
        "with exclusive(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        busy = f"another grader run \\(pid {holder.pid}\\) is writing to .*--out"
        with pytest.raises(GraderError, match=busy), exclusive(tmp_path):
            pass
        holder.kill()
    # The kernel dropped the dead holder's lock; this process's own lock holds against a second taker.
    with exclusive(tmp_path), pytest.raises(GraderError), exclusive(tmp_path):
        pass


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_outputs_follow_the_users_umask(tmp_path: Path, umask: int, file_mode: int, dir_mode: int) -> None:
    """A TA group or a web server reads reports/ as it reads anything else the instructor writes (mkstemp alone
    leaves files 0600)."""
    code = (
        "import os, sys; os.umask(int(sys.argv[2]))\n"
        "from pathlib import Path\n"
        "from grader.storage import replace_dir, write_atomic\n"
        "out = Path(sys.argv[1])\n"
        "write_atomic(out / 'report.pdf', b'%PDF')\n"
        "with replace_dir(out / 'adapter') as folder:\n"
        "    (folder / 'adapter_config.json').write_text('{}')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), str(umask)], check=True)
    assert stat.S_IMODE((tmp_path / "report.pdf").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "adapter").stat().st_mode) == dir_mode


def test_a_stored_config_reads_back_typed_and_saves_the_same_bytes(tmp_path: Path) -> None:
    """Records carry TrainConfig; a record an earlier version wrote (its config a plain dict, `{}` for none) reads
    back typed and is saved again byte for byte; a stored config of another shape is refused (the stage re-runs),
    never misread."""
    import json

    from grader.config import TrainConfig
    from grader.records import TrainRecord, ValidationRecord
    from grader.storage import load, save

    values = TrainConfig.model_validate({"learning_rate": 3e-4, "num_train_epochs": 3}).model_dump(mode="json")
    old = tmp_path / "validate.json"
    old.write_text(json.dumps({**ValidationRecord(group="g").model_dump(mode="json"), "config": values}, indent=2))
    stored = load(ValidationRecord, old)
    assert stored is not None and isinstance(stored.config, TrainConfig)
    assert (stored.config.learning_rate, stored.config.num_train_epochs, stored.config.lora_r) == (3e-4, 3.0, 16)
    save(stored, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == old.read_bytes()

    none = tmp_path / "train.json"
    none.write_text(json.dumps({**TrainRecord(group="g").model_dump(mode="json")}, indent=2))
    assert '"config": {}' in none.read_text()  # no config: written as records always wrote it
    loaded = load(TrainRecord, none)
    assert loaded is not None and loaded.config is None
    save(loaded, tmp_path / "none-again.json")
    assert (tmp_path / "none-again.json").read_bytes() == none.read_bytes()

    other = tmp_path / "other.json"
    other.write_text(old.read_text().replace('"learning_rate"', '"learning_rat"'))  # a key TrainConfig does not have
    assert load(ValidationRecord, other) is None
