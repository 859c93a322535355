"""Notes: a small tiered app whose tests use nothing but the ``tiered.testing`` plugin."""
