"""The default deployment is safe: the project's config serves on 127.0.0.1 only, and `make run` refuses,
before Streamlit starts, to serve anywhere else without sign-in (saying what to configure)."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.app_start import free_port, stop, wait_healthy
from components.serving import EXIT_REFUSED
from tests.app.test_access import TEAM_SECRETS

ROOT = Path(__file__).resolve().parents[2]


def check(*flags: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`python -m components.serving` as `make run` runs it, from the project's directory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environment}
    command = [sys.executable, "-m", "components.serving", *flags]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def secrets_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    return str(path)


def test_the_project_config_serves_on_loopback_only() -> None:
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1"
    local = check()
    assert local.returncode == 0, local.stderr
    assert local.stdout.startswith(
        "Local mode: http://127.0.0.1:8501, this machine only; you hold every role."
    )


@pytest.mark.parametrize(
    ("flags", "environment", "shown"),
    [
        (["--server.address", "0.0.0.0"], {}, "0.0.0.0"),
        (["--server.address="], {}, "every interface"),
        ([], {"STREAMLIT_SERVER_ADDRESS": "192.168.1.20"}, "192.168.1.20"),
    ],
)
def test_another_address_without_sign_in_is_refused(
    flags: list[str], environment: dict[str, str], shown: str
) -> None:
    refused = check(*flags, **environment)
    assert refused.returncode == EXIT_REFUSED and refused.stdout == ""
    assert f"Reference Studio will not serve: Refusing to serve on {shown} without sign-in" in refused.stderr
    assert "configure sign-in: an [auth] section in .streamlit/secrets.toml" in refused.stderr


def test_team_settings_without_an_identity_provider_are_refused(tmp_path: Path) -> None:
    roles_only = secrets_file(tmp_path, '[studio.roles]\nreviewer = ["rex@example.com"]\n')
    refused = check("--server.address", "0.0.0.0", "--secrets.files", roles_only)
    assert refused.returncode == EXIT_REFUSED
    assert (
        "Roles are configured ([studio.roles] or STUDIO_ROLES_*) but no identity provider" in refused.stderr
    )
    half = secrets_file(tmp_path, '[auth]\nredirect_uri = "https://studio.example.com/oauth2callback"\n')
    refused = check("--server.address", "0.0.0.0", "--secrets.files", half)
    assert refused.returncode == EXIT_REFUSED
    assert "[auth] lacks cookie_secret" in refused.stderr and "client_id" in refused.stderr


def test_complete_team_settings_serve_with_sign_in(tmp_path: Path) -> None:
    auth = TEAM_SECRETS["auth"] | {"redirect_uri": "https://studio.example.com/oauth2callback"}
    lines = [
        "[auth]",
        *(f'{k} = "{v}"' for k, v in auth.items()),
        "[studio.roles]",
        'reviewer = ["rex@example.com"]',
    ]
    team = check("--server.address", "0.0.0.0", "--secrets.files", secrets_file(tmp_path, "\n".join(lines)))
    assert team.returncode == 0, team.stderr
    assert team.stdout.startswith("Team mode on 0.0.0.0:8501: sign-in through default.")


def test_make_run_checks_before_streamlit_starts() -> None:
    planned = subprocess.run(
        ["make", "-n", "run", "ADDRESS=0.0.0.0", "PORT=8765"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert planned.returncode == 0, planned.stderr
    commands = [
        shlex.split(line) for line in planned.stdout.splitlines() if "serving" in line or "streamlit" in line
    ]
    check_line, run_line = commands[-2:]
    assert check_line[1:] == [
        "-m",
        "components.serving",
        "--server.port",
        "8765",
        "--server.address",
        "0.0.0.0",
    ]
    assert run_line[1:] == ["run", "streamlit_app.py", "--server.port", "8765", "--server.address", "0.0.0.0"]
    refused = check(*check_line[3:])
    assert refused.returncode == EXIT_REFUSED and "Refusing to serve on 0.0.0.0" in refused.stderr


@pytest.fixture
def default_server(tmp_path: Path) -> Iterator[int]:
    """`streamlit run streamlit_app.py` with nothing but the project's config: no address flag."""
    port = free_port()
    env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("STREAMLIT_SERVER_ADDRESS", None)
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        yield port
    finally:
        stop(process)


def reachable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


def other_addresses() -> list[str]:
    """This machine's addresses outside 127.0.0.1 (another loopback one, and its own IPv4 ones)."""
    found = {"127.0.0.2"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    return sorted(found - {"127.0.0.1"})


def test_the_default_server_binds_127_0_0_1_only(default_server: int) -> None:
    assert reachable("127.0.0.1", default_server)
    for address in other_addresses():
        assert not reachable(address, default_server), f"the studio answers on {address}"
