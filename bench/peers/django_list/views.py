"""The list page and the bench's log-in."""

# mypy: disable-error-code="import-untyped, untyped-decorator"

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bench.peers.django_list.models import Task, User

PAGE_SIZE = 20
STATUSES = (("all", "All tasks"), ("open", "Open"), ("done", "Done"))

View = Callable[..., HttpResponse]


def with_user(view: View) -> View:
    """Like ``login_required``, for the user whose id the session holds."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user_id = request.session.get("user_id")
        user = User.objects.filter(pk=user_id).first() if user_id is not None else None
        if user is None:
            return redirect("/login")
        return view(request, user, *args, **kwargs)

    return wrapper


@csrf_exempt
@require_POST
def login(request: HttpRequest) -> HttpResponse:
    user = User.objects.filter(email=request.POST.get("email", "").strip().lower()).first()
    if user is None:
        return HttpResponseBadRequest("No such user")
    request.session.cycle_key()
    request.session["user_id"] = user.pk
    return redirect("/tasks")


@require_GET
@with_user
def task_list(request: HttpRequest, user: User) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "all")
    if status not in dict(STATUSES):
        status = "all"
    tasks = Task.objects.filter(owner=user)
    if status != "all":
        tasks = tasks.filter(done=status == "done")
    if q:
        tasks = tasks.filter(Q(title__icontains=q) | Q(notes__icontains=q))
    page = Paginator(tasks.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"user": user, "page": page, "q": q, "status": status, "statuses": STATUSES}
    return render(request, "django_list/tasks.html", context)
