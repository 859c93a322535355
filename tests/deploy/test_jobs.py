"""Jobs through the deployed topology: an import sent over https to one instance is run by one of
the stack's job workers, and an export's file is served by whichever instance is asked."""

from __future__ import annotations

import time

from tests.deploy.conftest import RunningStack


def _finished(client, location: str, api: dict[str, str]) -> dict:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(location, headers=api).json()
        if job["status"] in ("done", "failed"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"{location} did not finish within 60 s: {job}")


def test_the_stack_runs_its_job_workers(stack: RunningStack) -> None:
    workers = stack.state()["workers"]
    assert len(workers) == 2
    assert {w["pid"] for w in workers} <= stack.pids()


def test_an_import_and_an_export_run_on_the_stacks_workers(
    stack: RunningStack, api: dict[str, str]
) -> None:
    content = "title,done\n" + "".join(f"Stacked {n},false\n" for n in range(250))
    with stack.client() as client:
        started = client.post(
            "/tasks/import",
            files={"file": ("stack.csv", content.encode(), "text/csv")},
            headers=api,
        )
        assert started.status_code == 202, started.text
        imported = _finished(client, started.headers["location"], api)
        exported_start = client.post("/tasks/export", json={"format": "csv"}, headers=api)
        assert exported_start.status_code == 202, exported_start.text
        exported = _finished(client, exported_start.headers["location"], api)
        # Every instance serves the file (they share the data directory, as the workers do).
        files = [client.get(exported["result"]["download"], headers=api) for _ in range(4)]
        listed = client.get("/tasks", params={"q": "Stacked 249"}, headers=api).json()

    assert imported["status"] == "done", imported
    assert imported["result"]["imported"] == 250
    assert exported["status"] == "done", exported
    assert all(f.status_code == 200 for f in files)
    assert all(b"Stacked 249" in f.content for f in files)
    assert listed["total"] == 1
