"""tiered's test kit for apps built with it (a pytest plugin; see ``tiered.testing.plugin``)."""
