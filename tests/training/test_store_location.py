"""Where runs are stored: an install keeps the shared default in the user's cache, while
``scripts/run.sh`` of a checkout and the test suite keep theirs out of that history."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from optviz.training.cluster import default_db_path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_an_install_keeps_its_runs_in_the_users_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPTVIZ_DB")
    monkeypatch.delenv("OPTVIZ_DATA_DIR", raising=False)
    assert default_db_path() == Path.home() / ".cache" / "optviz" / "runs.db"
    monkeypatch.setenv("OPTVIZ_DB", "/srv/optviz/history.db")
    assert default_db_path() == Path("/srv/optviz/history.db")


def test_the_test_suite_never_uses_the_users_run_history(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = default_db_path()
    assert path.is_relative_to(tmp_path_factory.getbasetemp())
    assert not path.is_relative_to(Path.home() / ".cache")


def run_script_in_a_checkout(checkout: Path, env: dict[str, str]) -> str:
    """Run the real ``scripts/run.sh`` from a copy of the checkout whose setup step and
    Streamlit are stand-ins; the stand-in prints the ``OPTVIZ_DB`` the app would get."""
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts" / "run.sh", checkout / "scripts" / "run.sh")
    (checkout / ".venv" / "bin").mkdir(parents=True)
    stand_ins = {
        "scripts/setup.sh": "#!/bin/sh\nexit 0\n",
        ".venv/bin/streamlit": '#!/bin/sh\nprintf %s "$OPTVIZ_DB"\n',
    }
    for name, text in stand_ins.items():
        (checkout / name).write_text(text)
        (checkout / name).chmod(0o755)
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "run.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_run_sh_keeps_a_checkouts_runs_inside_the_checkout(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "OPTVIZ_DB"}
    checkout = tmp_path / "optviz"
    stored = run_script_in_a_checkout(checkout, env)
    assert Path(stored).resolve() == (checkout / ".optviz" / "runs.db").resolve()


def test_run_sh_leaves_an_optviz_db_that_is_already_set(tmp_path: Path) -> None:
    env = {**os.environ, "OPTVIZ_DB": str(tmp_path / "mine.db")}
    assert run_script_in_a_checkout(tmp_path / "optviz", env) == str(tmp_path / "mine.db")


def test_the_checkouts_run_store_is_never_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", ".optviz/runs.db-journal"],
        cwd=REPO_ROOT,
        check=False,
    )
    assert ignored.returncode == 0
