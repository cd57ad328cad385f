"""Camera URL helpers safe to use anywhere: the one place that hides credentials."""

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """rtsp://user:secret@host/path -> rtsp://user:***@host/path; anything unparsable is masked whole."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "***"
    if "@" not in parts.netloc:
        return url
    userinfo = parts.netloc.rsplit("@", 1)[0]
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:***@" if ":" in userinfo else "***@"
    if host:
        netloc += f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
