"""The WSGI application granian serves: ``bench.peers.django_list.wsgi:application``."""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.django_list.settings")
application = get_wsgi_application()
