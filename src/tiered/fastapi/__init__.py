"""The FastAPI adapter: install tiered on an app, and decorators for views and forms."""
