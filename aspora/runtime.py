"""Start-up of the long-lived processes: the ASGI server and the Celery worker."""

import gc


def startup_objects_freeze() -> None:
    """Move everything start-up loaded (modules, settings, URL patterns, the executor's imports) out
    of the garbage collector's sight. It lives as long as the process, and without this every full
    collection walks all of it again: a pause of milliseconds on whatever request or run is in
    flight. In the pre-forking worker's parent it also keeps the children's collections from
    writing to, and so copying, the pages they share with it."""
    gc.freeze()
