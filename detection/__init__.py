"""Per-camera face-detection pipeline: capture, motion, detectors, annotate, publish, tracking.

Everything here except tasks.py and management/ is plain Python with no Django imports, so the
pipeline runs and is tested on a video file with no database.
"""
