"""Tasks: each user's own list, in every tier and as JSON."""
