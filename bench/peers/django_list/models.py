"""Taskboard's tables as Django models; Taskboard's migrations own them (``managed = False``)."""

# mypy: disable-error-code="import-untyped, misc"

from __future__ import annotations

from django.db import models


class User(models.Model):
    email = models.CharField(max_length=320, unique=True)

    class Meta:
        managed = False
        db_table = "users"


class Task(models.Model):
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    done = models.BooleanField(default=False)
    due_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "tasks"
