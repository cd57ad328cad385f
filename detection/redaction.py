"""Camera URLs in logs and status lines: the one place that hides their credentials."""

from urllib.parse import unquote, urlsplit, urlunsplit


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


def scrub(text: str, url: str) -> str:
    """text with `url` shown redacted, and its password replaced anywhere (ffmpeg may echo the
    URL, or its password alone, as written or decoded)."""
    text = text.replace(url, redact_url(url))
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> set[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        return set()
    return {password, unquote(password)} if password else set()
