"""gunicorn settings every deployment of ours uses: `gunicorn -c python:console.gunicorn_config`.

Command-line flags still override these (bind, workers, timeouts); the logger class is
what matters: access logs never show query-string values that could be a key, a search
or a phone number (see `console/access_log.py`).
"""

logger_class = "console.access_log.ScrubbingGunicornLogger"
