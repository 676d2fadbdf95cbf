"""Entry point: `gunicorn app:app` in production, `python app.py` for development."""

import sys

from feature_flags import create_app
from feature_flags.config import Config, ConfigError

try:
    config = Config.from_env()
    app = create_app(config)
except ConfigError as error:
    # One line naming the variable, not a traceback: the operator fixes the setting and restarts.
    sys.exit(f"configuration error: {error}")

if __name__ == "__main__":
    app.run(host=config.host, port=config.port, threaded=True)
