"""Cameras: the model, its API and admin, and the stream control services."""
