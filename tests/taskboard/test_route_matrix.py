"""Every GET route of Taskboard in every client profile, for each kind of visitor, and the HTML of
every page it renders checked for htmx that would break without JavaScript."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from taskboard.accounts import password_reset
from taskboard.jobs import service as jobs
from taskboard.tasks import transfer
from tests.taskboard.conftest import Account, log_in, make_user
from tests.taskboard.tasks.support import make_tasks
from tiered.testing import MatrixReport, check_html, run_matrix

PAGES_SEEN = {
    "anonymous": {
        "/",
        "/login",
        "/signup",
        "/logout",
        "/password-reset",
        "/password-reset/{token}",
    },
    "user": {
        "/tasks",
        "/tasks/{task_id}",
        "/tasks/{task_id}/delete",
        "/settings",
        "/tasks/import",
        "/tasks/export",
        "/jobs/{job_id}",
    },
    "admin": {"/tasks", "/settings", "/admin/flags", "/admin/dashboard"},
}
"""Routes each visitor must get a page from in some profile, so the checks are not vacuous."""


@dataclass
class Run:
    visitor: str
    report: MatrixReport


def matrix_as(client: TestClient, alice: Account, visitor: str) -> Run:
    """The matrix as one kind of visitor, over Alice's board with a few tasks (one done, some
    with notes), so that the list, the detail and the delete confirmation have a task to show."""
    task_id, *_ = make_tasks(client, alice, ["Water the plants", "Call Ada"], notes="Before 5")
    make_tasks(client, alice, ["Buy milk"], done=True)
    if visitor == "user":
        log_in(client, alice)
    elif visitor == "admin":
        log_in(client, make_user(client, "admin@example.org", is_admin=True))
    ids = {"task_id": task_id}
    assert client.portal is not None
    database = client.app.state.database  # type: ignore[attr-defined]
    token = client.portal.call(password_reset.issue, database, alice.user.id, 3600)
    job = client.portal.call(jobs.create, database, alice.user.id, transfer.EXPORT_KIND)
    values: dict[str, Mapping[str, object]] = {
        "/jobs/{job_id}": {"job_id": job.id},
        "/jobs/{job_id}/download": {"job_id": job.id},
        "/tasks/{task_id}": ids,
        "/tasks/{task_id}/delete": ids,
        "/password-reset/{token}": {"token": token},
    }
    return Run(visitor, run_matrix(client, path_values=values))


@pytest.fixture(params=sorted(PAGES_SEEN))
def run(request: pytest.FixtureRequest, client: TestClient, alice: Account) -> Run:
    return matrix_as(client, alice, request.param)


def test_every_route_serves_every_client(run: Run) -> None:
    assert run.report.failures == []
    assert run.report.skipped == ()
    assert {visit.route for visit in run.report.pages()} >= PAGES_SEEN[run.visitor]


def test_no_page_relies_on_javascript(run: Run) -> None:
    problems = {
        f"{visit.url} as {visit.profile.name}: {message}"
        for visit in run.report.pages()
        for message in check_html(visit.body)
    }

    assert sorted(problems) == []
    assert len(run.report.pages()) >= 4 * len(PAGES_SEEN[run.visitor])


def test_the_html_check_catches_a_broken_copy_of_a_real_page(
    client: TestClient, alice: Account
) -> None:
    (page,) = [
        visit.body
        for visit in matrix_as(client, alice, "user").report.pages()
        if visit.url == "/tasks" and visit.profile.name == "no_js_browser"
    ]
    broken = page.replace('id="results"', 'id="tasks-found"').replace(
        '<form method="post" action="/tasks"', '<form method="post"'
    )

    problems = check_html(broken)

    assert check_html(page) == []
    assert problems[0].startswith('<form data-hx-post="/tasks"> on line ')
    assert "has data-hx-post but no action" in problems[0]
    assert len([p for p in problems if 'but no element has id="results"' in p]) >= 4
