"""Jinja2 rendering for tiered: a whole page, or one named block of it as a fragment."""
