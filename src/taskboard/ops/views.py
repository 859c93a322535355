"""Health and readiness endpoints (added here)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
