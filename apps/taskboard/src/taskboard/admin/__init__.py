"""Administration: the feature-flag switchboard (who gets which enhancement), with its history."""
