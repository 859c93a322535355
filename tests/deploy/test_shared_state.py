"""What must hold across instances, tried through the deployed stack as browsers and attackers:
form posts over https, one task for one form posted to both instances, log-in limits per client
address (each test client binds its own loopback address, as separate machines would have), the
owner getting in while someone else guesses, forged forwarding headers, a flag change on both."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx2

from tests.deploy.conftest import PASSWORD, RunningStack, bearer_headers
from tiered.testing import CHROME_USER_AGENT as CHROME
from tiered.testing import hidden_fields

NGINX_ADDRESS = "127.0.0.10"
"""Where nginx's connections to the instances come from (``proxy_bind``): the one trusted peer."""


def browser(stack: RunningStack, address: str = "127.0.0.1") -> httpx2.Client:
    """A browser at ``address``, talking to the stack's https URL (HTTP/2)."""
    return stack.client(
        headers={"User-Agent": CHROME, "Accept": "text/html"},
        transport=httpx2.HTTPTransport(
            verify=stack.ssl_context(), http2=True, local_address=address
        ),
        follow_redirects=False,
    )


def post_form(
    client: httpx2.Client, page: str, path: str, fields: dict[str, str]
) -> httpx2.Response:
    """Open ``page`` and post its form to ``path``, as a browser does (Origin included)."""
    form = hidden_fields(client.get(page).text, action=path)
    origin = str(client.base_url).rstrip("/")
    return client.post(path, data={**form, **fields}, headers={"Origin": origin})


def sign_up(stack: RunningStack, address: str = "127.0.0.1") -> str:
    email = f"user-{uuid.uuid4().hex[:10]}@example.org"
    with browser(stack, address) as client:
        response = post_form(client, "/signup", "/signup", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    return email


def log_in(client: httpx2.Client, email: str, password: str = PASSWORD) -> int:
    return post_form(client, "/login", "/login", {"email": email, "password": password}).status_code


def test_a_browser_signs_up_logs_in_and_adds_a_task_over_https(stack: RunningStack) -> None:
    email = sign_up(stack)
    with browser(stack) as client:
        assert log_in(client, email) == 303
        cookies = {cookie.name for cookie in client.cookies.jar}
        created = post_form(client, "/tasks", "/tasks", {"title": "Water the plants"})
        listed = client.get("/tasks")

    assert {"__Host-tiered_session", "__Host-tiered_csrf"} <= cookies
    assert created.status_code == 303
    assert "Water the plants" in listed.text
    assert listed.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


def test_one_form_posted_to_both_instances_makes_one_task(stack: RunningStack) -> None:
    """The same form (one idempotency key) reaches each instance, as two nginx retries or a
    double click spread by the balancer would: the second gets the first's answer."""
    email = sign_up(stack)
    with browser(stack) as client:
        assert log_in(client, email) == 303
        form = hidden_fields(client.get("/tasks").text, action="/tasks")
        session = client.cookies["__Host-tiered_session"]
        csrf = client.cookies["__Host-tiered_csrf"]
        origin = stack.base_url
        host = origin.removeprefix("https://")
        headers = {
            "Cookie": f"__Host-tiered_session={session}; __Host-tiered_csrf={csrf}",
            "Origin": origin,
            "User-Agent": CHROME,
            # What nginx adds; believed because these clients connect from nginx's address.
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": host,
        }
        title = f"Once only {uuid.uuid4().hex[:6]}"

        def post_to(url: str) -> httpx2.Response:
            transport = httpx2.HTTPTransport(local_address=NGINX_ADDRESS)
            with httpx2.Client(transport=transport, timeout=30) as direct:
                return direct.post(f"{url}/tasks", data={**form, "title": title}, headers=headers)

        urls = [instance.url for instance in stack.instances()]
        assert len(urls) == 2
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(post_to, urls))
        again = post_to(urls[0])
        tasks = client.get("/tasks", headers={"Accept": "application/json"}).json()["items"]

    assert [a.status_code for a in answers] == [303, 303]
    assert again.status_code == 303
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert [task["title"] for task in tasks].count(title) == 1


def test_log_in_limits_count_each_client_address_apart(stack: RunningStack) -> None:
    """Behind nginx the app sees each client's own address, not nginx's: one address that
    fails ten times is stopped, another address is not."""
    owner = sign_up(stack)
    with browser(stack, "127.0.0.2") as guesser:
        statuses = [
            log_in(guesser, f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.org", "wrong")
            for n in range(10)
        ]
        refused = post_form(guesser, "/login", "/login", {"email": owner, "password": PASSWORD})
    with browser(stack, "127.0.0.3") as neighbour:
        neighbour_status = log_in(neighbour, owner)

    assert statuses == [422] * 10
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "from this address" in refused.text
    assert neighbour_status == 303


def test_the_owner_logs_in_from_a_known_browser_while_someone_guesses(
    stack: RunningStack,
) -> None:
    owner = sign_up(stack, "127.0.0.4")
    with browser(stack, "127.0.0.4") as owners_browser:
        assert log_in(owners_browser, owner) == 303
        assert "__Host-taskboard_device" in {c.name for c in owners_browser.cookies.jar}
        post_form(owners_browser, "/logout", "/logout", {})

        for address in ("127.0.0.5", "127.0.0.6", "127.0.0.5", "127.0.0.6", "127.0.0.5"):
            with browser(stack, address) as guesser:
                assert log_in(guesser, owner, "guess") == 422
        with browser(stack, "127.0.0.6") as guesser:
            assert log_in(guesser, owner, "guess") == 429
        with browser(stack, "127.0.0.7") as new_browser:
            assert log_in(new_browser, owner) == 429  # a browser the owner never used

        assert log_in(owners_browser, owner) == 303


def test_forged_forwarding_headers_sent_straight_to_an_instance_gain_nothing(
    stack: RunningStack,
) -> None:
    """From anywhere but nginx, X-Forwarded-* change neither the address the limits count nor
    the scheme: ten failures under ten forged addresses are still one address's ten."""
    instance = stack.instances()[0]
    transport = httpx2.HTTPTransport(local_address="127.0.0.8")
    with httpx2.Client(
        base_url=instance.url, transport=transport, timeout=30, follow_redirects=False
    ) as attacker:
        statuses = []
        first = None
        for n in range(11):
            forged = {"X-Forwarded-For": f"203.0.113.{n}", "X-Forwarded-Proto": "https"}
            page = attacker.get("/login", headers=forged)
            first = first or page
            response = attacker.post(
                "/login",
                data={
                    **hidden_fields(page.text, action="/login"),
                    "email": f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.org",
                    "password": "wrong",
                },
                headers=forged,
            )
            statuses.append(response.status_code)

    assert first is not None
    assert "Secure" not in first.headers["set-cookie"]
    assert "__Host-" not in first.headers["set-cookie"]
    assert "strict-transport-security" not in first.headers
    assert statuses == [422] * 10 + [429]


def _make_admin(stack: RunningStack) -> dict[str, str]:
    headers = bearer_headers(stack, f"admin-{uuid.uuid4().hex[:8]}@example.org", admin=True)
    return {"Authorization": headers["Authorization"]}


def _inline_create_on(url: str, auth: dict[str, str]) -> bool:
    page = httpx2.get(
        f"{url}/tasks", headers={**auth, "User-Agent": CHROME, "Accept": "text/html"}, timeout=10
    )
    assert page.status_code == 200
    return 'data-hx-post="/tasks"' in page.text


def test_a_flag_change_reaches_both_instances_within_two_seconds(stack: RunningStack) -> None:
    admin = _make_admin(stack)
    urls = [instance.url for instance in stack.instances()]
    assert all(_inline_create_on(url, admin) for url in urls)

    with stack.client() as client:
        changed = client.post(
            "/admin/flags/inline_create",
            json={"default": "off", "tiers": ["lite", "full"], "rollout": 0},
            headers={**admin, "Accept": "application/json"},
        )
        assert changed.status_code == 200, changed.text
        try:
            deadline = time.monotonic() + 2.0
            seen_off: set[str] = set()
            while time.monotonic() < deadline and len(seen_off) < len(urls):
                seen_off |= {url for url in urls if not _inline_create_on(url, admin)}
                time.sleep(0.1)  # polling each instance until it shows the change
        finally:
            reset = client.post(
                "/admin/flags/inline_create/reset",
                headers={**admin, "Accept": "application/json"},
            )

    assert seen_off == set(urls)
    assert reset.status_code == 200, reset.text
