"""Taiji's configuration client for Python services (docs/scm-client.md).

    from taiji.config import Client

    config = Client("https://taiji.example.com", "acme", "orders", "prod",
                    key=os.environ["TAIJI_CONFIG_KEY"], instance=socket.gethostname(),
                    cache_dir="/var/cache/orders")
    port = config.get("server.port", 8080)
    config.watch(lambda values: reconfigure(values))

Standard library only, and nothing of the Taiji server: any Python 3.11+ service can copy or
install it.
"""

from taiji.config.client import Client, ConfigError, Unavailable

__all__ = ["Client", "ConfigError", "Unavailable"]
