"""The peer's two routes."""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

from django.urls import path

from bench.peers.django_list import views

urlpatterns = [
    path("login", views.login),
    path("tasks", views.task_list),
]
