"""The config file: read only from where the user put it, never one others can write, and
the command line always wins over it (every flag over every file key it implies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.cli import commands as cli_module
from importer.sandbox import RunningSandbox

from ..helpers import HEADER, activity_rows, api_args, write_csv

pytestmark = pytest.mark.usefixtures("api_env", "in_tmp_path")


@pytest.fixture
def in_tmp_path(tmp_path, monkeypatch) -> None:
    """Default reports land in the test's own folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def regions(make_sandbox, monkeypatch) -> dict[str, RunningSandbox]:
    """Each region's documented URLs point at a sandbox of its own: nothing leaves the machine."""
    boxes = {region: make_sandbox() for region in ("eu", "us", "au")}

    def urls(region: str) -> tuple[str, str]:
        return boxes[region].api_url, boxes[region].token_url

    monkeypatch.setattr(cli_module, "region_urls", urls)
    return boxes


def owner_only(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def aimed_at(box: RunningSandbox) -> str:
    return f'api_url = "{box.api_url}"\ntoken_url = "{box.token_url}"\n'


def test_a_config_file_in_the_working_folder_is_not_read(
    cli, regions, make_sandbox, tmp_path, monkeypatch
):
    """Issue 18.7: a cg-import.toml planted where the job happens to start is not obeyed."""
    planted = make_sandbox()
    owner_only(tmp_path / "cg-import.toml", aimed_at(planted))
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(3)])
    result = cli("run", source, "--rate", "0", "--quiet")
    assert result.code == 0, result.err
    assert planted.sandbox.stats.token_requests == 0  # the secret never went there
    assert regions["eu"].sandbox.stats.puts == 3
    assert "cg-import.toml" not in result.err


@pytest.mark.parametrize(
    ("flags", "region"),
    [
        (["--region", "us"], "us"),
        (["--api-url", "eu API"], "eu"),  # the file's token_url must not come with it
        (["--token-url", "us token", "--region", "us"], "us"),
    ],
)
def test_endpoint_flags_on_the_command_line_beat_every_url_in_the_config_file(
    cli, regions, make_sandbox, tmp_path, flags, region
):
    """Issue 18.7: --region us beats the file's api_url/token_url; any endpoint flag makes
    the endpoint the command line's alone (the secret goes only where the command says)."""
    planted = make_sandbox()
    config = owner_only(tmp_path / "job.toml", aimed_at(planted) + 'region = "au"\n')
    named = {f"{name} API": box.api_url for name, box in regions.items()}
    named |= {f"{name} token": box.token_url for name, box in regions.items()}
    flags = [named.get(flag, flag) for flag in flags]
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(3)])
    result = cli("run", source, "--config", config, *flags, "--rate", "0", "--quiet")
    assert result.code == 0, result.err
    assert planted.sandbox.stats.token_requests == 0 and planted.sandbox.stats.puts == 0
    assert regions[region].sandbox.stats.puts == 3


def test_the_default_config_file_is_read_and_named_on_stderr(
    cli, regions, make_sandbox, tmp_path, own_config_home
):
    box = make_sandbox()
    config = owner_only(own_config_home / "cg-import" / "config.toml", aimed_at(box))
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    result = cli("run", source, "--rate", "0", "--report", tmp_path / "r.csv")
    assert result.code == 0, result.err
    assert box.sandbox.stats.puts == 2
    assert f"cg-import: settings from {config}" in result.err
    quiet = cli("run", source, "--rate", "0", "--report", tmp_path / "q.csv", "--quiet")
    assert quiet.code == 0 and quiet.err == ""  # a scheduled job's quiet run stays quiet


@pytest.mark.parametrize("where", ["file", "folder", "default"])
def test_a_config_file_others_can_write_is_refused(
    cli, regions, make_sandbox, tmp_path, own_config_home, where
):
    """Issue 18.7: a config file that others could have edited is not obeyed: one line, the fix."""
    box = make_sandbox()
    if where == "default":
        config = owner_only(own_config_home / "cg-import" / "config.toml", aimed_at(box))
    else:
        config = owner_only(tmp_path / "shared" / "job.toml", aimed_at(box))
    if where == "folder":
        config.parent.chmod(0o777)  # anyone may put another job.toml in its place
    else:
        config.chmod(0o666)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    flags = [] if where == "default" else ["--config", config]
    result = cli("run", source, *flags, "--rate", "0", "--quiet")
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    fix = f"chmod go-w {config.parent}" if where == "folder" else f"chmod 600 {config}"
    assert fix in result.err, result.err
    assert box.sandbox.stats.token_requests == 0 and regions["eu"].sandbox.stats.puts == 0
    config.parent.chmod(0o700)
    config.chmod(0o600)
    assert cli("run", source, *flags, "--rate", "0", "--quiet").code == 0
    assert box.sandbox.stats.puts == 2


def test_only_changed_in_a_config_file_is_refused(cli, sandbox, tmp_path):
    """Issue 18.7: skipping rows is asked for on the command line of the run, not in a file."""
    config = owner_only(tmp_path / "job.toml", 'history = "h.sqlite"\nonly_changed = true\n')
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    result = cli("run", source, "--config", config, *api_args(sandbox), "--quiet")
    assert result.code == 2 and "--only-changed" in result.err
    assert sandbox.sandbox.stats.puts == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@127.0.0.1:1/activities",
        "https://user:hunter2@example.com/activities",
        "http://127.0.0.1:99999/activities",
    ],
)
def test_api_url_with_a_password_or_a_bad_port_is_one_clear_line(cli, sandbox, tmp_path, url):
    """Issue 18.17b: one line, exit 2, never the password."""
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    result = cli("run", source, "--api-url", url, "--token-url", sandbox.token_url, "--quiet")
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    assert "internal error" not in result.err and "hunter2" not in result.output
    assert "--api-url" in result.err
    assert sandbox.sandbox.stats.token_requests == 0
