"""Taskboard: a multi-user task tracker built with tiered's public API, in every tier."""
