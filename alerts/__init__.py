"""Alerts: one per face appearance, with a snapshot; stored, listed, acknowledged, pushed live."""
