"""The app's start and the Generate page's render: `streamlit run` to a healthy /_stcore/health (target
≤ 2 s), and one script run of the Generate page over a finished 200-reference job (target ≤ 1 s)."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
N = 200
STARTS = 3
RENDERS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_studio(data_dir: Path, port: int, *options: str) -> subprocess.Popen[bytes]:
    """`streamlit run streamlit_app.py` on 127.0.0.1:`port` over its data dir, with Streamlit `options`."""
    env = {**os.environ, "STUDIO_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    command += ["--browser.gatherUsageStats", "false", *options]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> float:
    """Seconds until `url`/_stcore/health answers ok; raises if the server exits or never answers."""
    started = time.perf_counter()
    with httpx.Client(timeout=1) as client:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                errors = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"streamlit exited with {process.returncode}: {errors[-2000:]}")
            try:
                if client.get(f"{url}/_stcore/health").text == "ok":
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    raise TimeoutError(f"{url} not healthy after {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    if process.stderr:
        process.stderr.close()


def start_seconds() -> list[float]:
    times = []
    for _ in range(STARTS):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            process = start_studio(Path(tmp), port)
            try:
                times.append(wait_healthy(f"http://127.0.0.1:{port}", process))
            finally:
                stop(process)
    return times


def render_seconds() -> tuple[float, list[float]]:
    """Cold (thumbnails made) and warm script runs of the Generate page over a stored 200-image job."""
    from streamlit.testing.v1 import AppTest

    from benchmarks.plans import synthetic_plan
    from components.setup import JOB_KEY, shutdown
    from studio.prompts.edits import save_plan
    from studio.references import jobs
    from studio.services import build_services
    from studio.settings import Settings
    from studio.work.runner import drain

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STUDIO_DATA_DIR"] = tmp
        services = build_services(Settings(data_dir=Path(tmp)))
        plan = synthetic_plan(N)
        save_plan(services, plan, "benchmark")
        job_id = jobs.submit(services, plan)
        asyncio.run(drain(services))
        references = len(services.records.references.of_job(job_id))
        assert references == N, f"{references} references stored, expected {N}"
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
        at.switch_page("pages/generate.py")
        at.session_state[JOB_KEY] = job_id
        runs = []
        try:
            for _ in range(RENDERS + 1):
                started = time.perf_counter()
                at.run()
                runs.append(time.perf_counter() - started)
                assert not at.exception, [e.value for e in at.exception]
            assert len(at.image) == 32, len(at.image)
        finally:
            shutdown()
            services.close()
            os.environ.pop("STUDIO_DATA_DIR", None)
    return runs[0], runs[1:]


def run() -> None:
    starts = start_seconds()
    print(
        f"app start to healthy /_stcore/health: median {statistics.median(starts):.2f}s "
        f"(runs {', '.join(f'{t:.2f}' for t in starts)}; target ≤ 2 s)"
    )
    cold, warm = render_seconds()
    print(
        f"Generate page, {N} references (board + 32-thumbnail gallery page): "
        f"first run {cold:.2f}s (makes thumbnails), then median {statistics.median(warm):.2f}s "
        f"(target ≤ 1 s)"
    )


if __name__ == "__main__":
    run()
