"""The telemetry dashboard for admins, and ``/metrics`` for Prometheus."""
