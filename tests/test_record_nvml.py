"""The NVML recorder (tests/bench/record_nvml.py) against the replay of a real recording.

No GPU is lent to the machine that runs this suite, so the recorder is run here against the replay of the
H200 recording (core/hardware/nvml_replay.py, the same seam tests/fakenvml.py uses): it must write that
recording back, call for call, so a recording it makes on a real GPU is one the replay can stand in for.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fakenvml import H100, H200, mig_on, record, two_gpus_one_lost, v2_missing

from core.hardware.nvml_replay import ReplayNvml

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
import record_nvml

# what the recordings hold but the app never asks (so the replay does not answer them either)
NOT_REPLAYED = {"bar1", "pci", "temperature", "utilization", "compute_processes"}
HEADER = {"module_file", "nvidia_ml_py_version", "recorded"}


def _without(rec: dict, keys: set[str]) -> dict:
    out = {k: v for k, v in rec.items() if k not in HEADER}
    out["devices"] = [{k: v for k, v in d.items() if k not in keys} for d in rec.get("devices", [])]
    return out


@pytest.mark.parametrize("name", [H200, H100])
def test_the_recorder_writes_a_real_recording_back_from_its_replay(name: str) -> None:
    real = record(name)
    again = record_nvml.record(ReplayNvml(record(name)), note="replay of " + name)
    assert again["recorded"]["by"] == "tests/bench/record_nvml.py" and again["recorded"]["note"] == "replay of " + name
    assert _without(again, NOT_REPLAYED) == _without(real, NOT_REPLAYED)
    for dev in again["devices"]:  # the calls the replay does not serve are said, not invented
        assert {k for k, v in dev.items() if v == {"error": "FunctionNotFound"}} == NOT_REPLAYED
    assert [set(d) for d in again["devices"]] == [set(d) for d in real["devices"]]  # every key a real one has
    assert set(again) - HEADER == set(real) - HEADER
    json.dumps(again)  # plain JSON, as the fixtures


@pytest.mark.parametrize("scenario", [two_gpus_one_lost, v2_missing, lambda: mig_on(2)])
def test_errors_and_mig_slices_are_recorded_as_the_replay_reads_them(scenario) -> None:
    rec = scenario()
    again = record_nvml.record(ReplayNvml(rec))
    assert {k: v for k, v in again.items() if k not in HEADER | {"devices"}} == {
        k: v for k, v in rec.items() if k not in HEADER | {"devices"}
    }
    for dev, want in zip(again["devices"], rec["devices"], strict=True):
        if "handle" in want:  # a lost GPU: the handle's error is all a real driver gives
            assert dev == {"handle": want["handle"]}
            continue
        assert {k: v for k, v in dev.items() if k not in NOT_REPLAYED} == {
            k: v for k, v in want.items() if k not in NOT_REPLAYED
        }
