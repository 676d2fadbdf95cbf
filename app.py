"""Entry point: `gunicorn app:app` in production, `python app.py` for development."""

import atexit
import logging
import signal
import sys

from feature_flags import create_app, schedules, webhooks
from feature_flags.config import Config, ConfigError
from feature_flags.usage import shutdown

try:
    config = Config.from_env()
    app = create_app(config)
except ConfigError as error:
    # One line naming the variable, not a traceback: the operator fixes the setting and restarts.
    sys.exit(f"configuration error: {error}")

if __name__ == "__main__":
    # werkzeug's own "Running on" lines are silenced (logging_setup), so say where to go and where the data is.
    shown_host = "127.0.0.1" if config.host in {"0.0.0.0", "::"} else config.host
    url = f"http://{shown_host}:{config.port}/"
    logging.getLogger("feature_flags").info(
        f"open {url} (data: {config.data_location})", extra={"url": url, "data": config.data_location}
    )
    # The evaluation counts not yet written go to the database on the way out; SIGTERM (a process manager's stop)
    # would otherwise end the process without running exit handlers.
    atexit.register(shutdown, app)
    atexit.register(schedules.shutdown, app)
    atexit.register(webhooks.shutdown, app)
    schedules.start(app)
    webhooks.start(app)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app.run(host=config.host, port=config.port, threaded=True)
