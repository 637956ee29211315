"""`taiji images …`: job images on the configured Docker engine."""

from __future__ import annotations

from pathlib import Path

import click


def _client():
    from taiji.platform.config import ConfigError, load

    from ..settings import SETTINGS
    from .engine import EngineError, client_for, describe

    try:
        config = load(settings=SETTINGS)
        client = client_for(config)
        click.echo(f"Engine {config['DOCKER_HOST']}: {describe(client)}")
    except (ConfigError, ValueError, EngineError) as exc:
        raise click.ClickException(str(exc)) from exc
    return client, config


@click.group(short_help="Build and list CI job images on the Docker engine.")
def images():
    """Build and list the images CI jobs run in, on the Docker engine of TAIJI_DOCKER_HOST."""


@images.command("bootstrap")
@click.option("--name", default="python", show_default=True,
              help="The image is taiji/NAME:bookworm; `python` adds python3, venv and pip.")
@click.option("--include", "include", multiple=True, metavar="PKG",
              help="One more Debian package (repeatable, or comma-separated).")
@click.option("--mirror", default="", help="Debian mirror URL (default: deb.debian.org).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the root file system here and reuse it next time (tests, CI).")
@click.option("--rebuild", is_flag=True, help="Build again even when the engine has this image.")
def bootstrap_command(name, include, mirror, cache_dir, rebuild):
    """Build a job image from Debian packages (mmdebstrap) and import it into the engine.

    The default job image (TAIJI_CICD_DEFAULT_IMAGE, taiji/python:bookworm) is what
    `taiji images bootstrap` builds with no options. Docker Hub is never asked.
    """
    from .images import BootstrapError, bootstrap, recipe

    packages = [p.strip() for item in include for p in item.split(",") if p.strip()]
    try:
        rec = recipe(name, packages, mirror=mirror)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    client, config = _client()
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        bootstrap(client, rec, cache_dir=cache_dir, rebuild=rebuild, progress=click.echo)
    except BootstrapError as exc:
        raise click.ClickException(str(exc)) from exc
    if rec.reference != config["CICD_DEFAULT_IMAGE"]:
        click.echo(f"Jobs use it with `image: {rec.reference}` (the default image is "
                   f"{config['CICD_DEFAULT_IMAGE']}).")


@images.command("list")
def list_command():
    """The engine's images made by `taiji images bootstrap`."""
    from .images import KEY_LABEL, PACKAGES_LABEL

    client, _config = _client()
    found = client.images.list(filters={"label": KEY_LABEL})
    if not found:
        click.echo("No bootstrapped images.")
    for image in found:
        labels = image.labels or {}
        tags = ", ".join(image.tags) or "(untagged)"
        click.echo(f"{tags}\t{image.id[:19]}\t{labels.get(PACKAGES_LABEL, '')}")
