"""tiered on ASGI: the pure-ASGI middleware, sessions, CSRF, problems, static files."""
