"""Django's PostgreSQL backend for the embedded server: the server is started when the
first connection is made, not when the settings are read, so that a process that never
touches the database (``check``, ``collectstatic``, a settings probe) starts none.

``DATABASES["default"]["EMBEDDED_DATA_DIR"]`` names the server's data folder; its
socket folder becomes the connection's HOST once the server runs."""

from pathlib import Path

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper

from core.embedded_db import ensure_running


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    def get_connection_params(self):
        if not self.settings_dict.get("HOST"):
            running = ensure_running(Path(self.settings_dict["EMBEDDED_DATA_DIR"]))
            self.settings_dict["HOST"] = running["HOST"]
        return super().get_connection_params()
