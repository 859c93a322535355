"""Operations: health and readiness, request logs, and behaviour when the database is away."""
