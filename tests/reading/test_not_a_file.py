"""A pipe, a device or a folder given as the input is refused at once, never read for ever."""

from __future__ import annotations

import os

import pytest

from ..helpers import one_line, run_subprocess


@pytest.mark.timeout(60)
def test_a_fifo_is_refused_at_once_not_read_forever(tmp_path):
    fifo = tmp_path / "drop.csv"
    os.mkfifo(fifo)
    result = run_subprocess("validate", fifo, "--report", tmp_path / "r.csv", timeout=30)
    assert result.code == 2, result.output
    assert "not a regular file" in one_line(result.err)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused(cli, tmp_path, device):
    result = cli("validate", device, "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "not a regular file" in one_line(result.err)


def test_a_folder_named_like_a_csv_is_refused(cli, tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    result = cli("validate", folder, "--report", tmp_path / "r.csv")
    assert result.code == 2 and "is a folder" in one_line(result.err)
