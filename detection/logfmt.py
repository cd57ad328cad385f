"""key=value log lines (logfmt), the format of every Skylark log message.

It lives here, in the plain-Python half of the project, so the pipeline can use it without Django;
the Django apps import it from here too.
"""


def kv(**fields: object) -> str:
    """kv(event="status", camera=3, error="connection refused") -> 'event=status camera=3 error="..."'.

    An exception shows as `Type: message`, a list or tuple as comma-separated items. Callers pass
    redacted URLs only; this function does not know which values are secret.
    """
    parts = []
    for key, value in fields.items():
        if isinstance(value, float):
            text = f"{value:.2f}"
        elif isinstance(value, BaseException):
            text = f"{type(value).__name__}: {value}" if str(value) else type(value).__name__
        elif isinstance(value, list | tuple):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value)
        if not text or any(ch in text for ch in ' ="\n'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
