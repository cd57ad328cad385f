"""key=value log lines (logfmt), the format of every detection log message."""


def kv(**fields: object) -> str:
    """kv(event="status", camera=3, error="connection refused") -> 'event=status camera=3 error="..."'.

    Callers pass redacted URLs only; this function does not know which values are secret.
    """
    parts = []
    for key, value in fields.items():
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        if not text or any(ch in text for ch in ' ="\n'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
