"""CI on a Docker engine: the connection (TAIJI_DOCKER_HOST), job images, and job containers."""
