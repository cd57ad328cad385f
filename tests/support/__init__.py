"""Helpers that run Skylark's real processes (daphne, Celery) for integration tests."""
