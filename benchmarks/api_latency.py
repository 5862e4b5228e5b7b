"""The HTTP API on a live `streamlit run` server: how long `GET /api/v1/jobs/{id}` takes on a kept-alive
connection, and how soon a job's Server-Sent Events stream gives its first event, for a 200-reference job."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.app_start import free_port, start_studio, stop, wait_healthy
from benchmarks.plans import synthetic_plan

N = 200
READS = 100


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        os.environ["STUDIO_PUBLIC_URL"] = url
        process = start_studio(Path(tmp), port)
        try:
            wait_healthy(url, process, timeout=60)
            with httpx.Client(base_url=f"{url}/api/v1", timeout=60) as api:
                plan = synthetic_plan(N).model_dump(mode="json")
                job_id = api.post("/jobs", json={"plan": plan}).json()["job_id"]
                asked = time.perf_counter()
                with api.stream("GET", f"/jobs/{job_id}/events") as stream:
                    lines = stream.iter_lines()
                    next(lines)
                    first = time.perf_counter() - asked
                    for _ in lines:  # until the job ends
                        pass
                ended = time.perf_counter() - asked
                reads = []
                for _ in range(READS):
                    started = time.perf_counter()
                    state = api.get(f"/jobs/{job_id}")
                    reads.append(time.perf_counter() - started)
                assert state.json()["status"] == "success", state.text
        finally:
            stop(process)
            os.environ.pop("STUDIO_PUBLIC_URL", None)
    reads.sort()
    print(
        f"GET /api/v1/jobs/{{id}} of a {N}-reference job: median {statistics.median(reads) * 1000:.1f} ms, "
        f"p95 {reads[int(READS * 0.95)] * 1000:.1f} ms ({READS} reads, one kept-alive connection)"
    )
    print(
        f"first SSE event {first * 1000:.1f} ms after asking; the stream ended with the job at {ended:.1f} s"
    )


if __name__ == "__main__":
    run()
