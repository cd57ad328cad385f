"""A fake IP camera for tests, benchmarks and the demo: generated face videos served over RTSP."""
