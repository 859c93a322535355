"""Feature flags through OpenFeature: tiered's provider, a deadline guard, and per-request use."""
