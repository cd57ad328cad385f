"""Helpers shared by the tests: real processes (daphne, Celery, Redis), waiting, threads for ORM
work, WebSocket clients and credentials. Shared fixtures live in tests/conftest.py."""
