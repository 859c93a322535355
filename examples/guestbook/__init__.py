"""A small guestbook built with tiered: what `make run` serves until Taskboard lands."""
