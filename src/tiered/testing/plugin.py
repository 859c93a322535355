"""The pytest plugin tiered registers (entry point ``pytest11``)."""
