"""When detections become alerts: one alert per appearance of faces, not one per frame."""


class AlertPolicy:
    """Decides, from successive detection results, when a camera should raise an alert.

    An alert fires when faces appear after at least cooldown_s in which detection saw none, or
    when, during one appearance, more faces are seen than at that appearance's last alert. Never
    more than one alert per cooldown_s. The absence is measured from the first detection that saw
    no face, since that is the first time the absence is known. Pure: the caller passes the time.
    """

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self._in_appearance = False
        self._absent_since: float | None = None
        self._alerted_count = 0
        self._last_alert_at: float | None = None

    def observe(self, now: float, face_count: int) -> bool:
        """Record one detection result at monotonic time `now`; True if it should raise an alert."""
        if self._absent_since is not None and now - self._absent_since >= self.cooldown_s:
            self._in_appearance = False
        if face_count <= 0:
            if self._in_appearance and self._absent_since is None:
                self._absent_since = now
            return False
        self._absent_since = None
        if not self._in_appearance:
            self._in_appearance = True
            self._alerted_count = 0
        rate_ok = self._last_alert_at is None or now - self._last_alert_at >= self.cooldown_s
        if face_count > self._alerted_count and rate_ok:
            self._alerted_count = face_count
            self._last_alert_at = now
            return True
        return False
