"""Start-up: `vr --help`, every command's help and `vr models list` import no torch, DALI or OpenCV;
the root help lines and the model zoo's shipped table agree with what they summarise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vr import model_zoo
from vr.cli import COMMANDS, load_command

HEAVY = ("torch", "nvidia.dali", "cv2", "numpy", "joblib")


def _imported_heavy(args: list[str]) -> tuple[list[str], str]:
    """Run `vr ARGS` in a fresh interpreter; the heavy modules it imported and what it printed."""
    code = (
        "import sys, io, contextlib, json\n"
        "from vr.cli import cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    cli({args!r}, standalone_mode=False)\n"
        f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], out.getvalue()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, printed = json.loads(done.stdout.strip().splitlines()[-1])
    return heavy, printed


def test_root_help_imports_nothing_heavy():
    heavy, printed = _imported_heavy(["--help"])
    assert heavy == []
    for name in COMMANDS:
        assert f"  {name} " in printed


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_imports_no_torch_dali_or_opencv(name):
    heavy, printed = _imported_heavy([name, "--help"])
    assert not {"torch", "nvidia.dali", "cv2"} & set(heavy), heavy
    assert "Usage:" in printed


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_root_help_line_is_the_commands_own(name):
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name][2] == command.get_short_help_str(limit=10_000)


def test_unknown_command_is_a_usage_error():
    from helpers.cli import invoke

    result = invoke(["trian"])
    assert result.exit_code == 2
    assert "No such command 'trian'" in result.output


def test_models_list_reads_the_table_without_torch():
    heavy, printed = _imported_heavy(["models", "list", "x3d*"])
    assert "torch" not in heavy
    lines = printed.splitlines()
    assert lines[0].split()[:2] == ["model", "family"]
    assert [line.split()[0] for line in lines[1:]] == ["x3d_l", "x3d_m", "x3d_s", "x3d_xs"]


def test_shipped_zoo_table_equals_a_fresh_measurement():
    """A model added or changed without `python -m vr.model_zoo` fails here."""
    import vr.models  # noqa: F401  (registers the families)

    shipped = {e.name: e for e in model_zoo.read_zoo()}
    measured = {e.name: e for e in model_zoo.measure()}
    assert sorted(shipped) == sorted(measured), "run: python -m vr.model_zoo"
    for name, entry in measured.items():
        assert shipped[name] == entry, f"{name}: run python -m vr.model_zoo"


def test_zoo_table_round_trips(tmp_path):
    entries = model_zoo.read_zoo()
    model_zoo.write_zoo(entries, tmp_path / "zoo.json")
    assert model_zoo.read_zoo(tmp_path / "zoo.json") == entries
    assert (tmp_path / "zoo.json").read_text() == model_zoo.ZOO_FILE.read_text()
