"""vr.runtime: the one owner of device choice, precision and host-to-device moves."""

from __future__ import annotations

import pytest
import torch

from vr.runtime import PRECISIONS, DeviceError, check_precision, resolve_device, to_device


def test_cpu_and_bad_names():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="not a device"):
        resolve_device("gpu7")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            resolve_device("cuda:0")


@pytest.mark.parametrize(
    "visible, local_rank, name, expected",
    [
        (1, 3, "cuda", 0),  # Slurm --gpus-per-task=1: one visible GPU, LOCAL_RANK 3
        (2, 3, "cuda", 1),
        (8, 3, "auto", 3),  # torchrun on an 8-GPU node
        (8, 3, "cuda:5", 5),  # an explicit ordinal is kept
    ],
)
def test_a_launchers_process_takes_local_rank_modulo_the_visible_gpus(
    monkeypatch, visible, local_rank, name, expected
):
    # the machine's GPUs are the environment here, not the thing under test: the rule is
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    assert resolve_device(name) == torch.device("cuda", expected)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert resolve_device("cuda") == torch.device("cuda", 0)  # one process: the first GPU


def test_an_ordinal_past_the_visible_gpus_names_them(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(DeviceError, match=r"sees 1 GPU\(s\) \(CUDA_VISIBLE_DEVICES=3\)"):
        resolve_device("cuda:1")


def test_precisions_are_checked_for_the_device(monkeypatch):
    cpu = torch.device("cpu")
    assert PRECISIONS == ("fp32", "bf16", "fp16")
    check_precision("fp32", cpu)
    check_precision("fp16", cpu, training=False)  # inference under CPU autocast runs
    with pytest.raises(DeviceError, match="fp16 needs a GPU"):
        check_precision("fp16", cpu)
    with pytest.raises(DeviceError, match="one of"):
        check_precision("fp8", cpu)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    with pytest.raises(DeviceError, match=r"Tesla T4 \(compute capability 7.5\) has no bf16 units"):
        check_precision("bf16", torch.device("cuda", 0))


def test_to_device_moves_a_batch_and_lays_clips_out_channels_last():
    batch = {"clip": torch.randn(2, 3, 4, 8, 8), "label": torch.tensor([0, 1])}
    clip, label = to_device(batch, torch.device("cpu"), channels_last=True)
    assert clip.is_contiguous(memory_format=torch.channels_last_3d) and torch.equal(clip, batch["clip"])
    assert torch.equal(label, batch["label"])


def test_worker_slots_are_the_lowest_free_and_freed_by_a_dead_worker(tmp_path):
    """GPU workers pick ``slot % GPUs``: k live workers hold slots 0..k-1 whoever started them, and a
    killed worker's slot goes to the next one (real processes holding real locks)."""
    import subprocess
    import sys

    code = (
        "import sys; from vr.runtime import worker_slot; "
        f"print(worker_slot({str(tmp_path)!r}), flush=True); sys.stdin.read()"
    )

    def start():
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        return proc, int(proc.stdout.readline())

    first, a = start()
    second, b = start()
    assert (a, b) == (0, 1)
    first.kill()
    first.wait()
    third, c = start()
    fourth, d = start()
    assert (c, d) == (0, 2)
    for proc in (second, third, fourth):
        proc.stdin.close()
        proc.wait(timeout=30)
