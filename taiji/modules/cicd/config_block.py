"""`.taiji.yml` `config:`: which configuration of the configuration center (SCM) a pipeline's jobs
render into their checkout, checked and normalised here (pipeline_file.py calls in).

```yaml
config:
  component: payments          # a component of the tenant (or product-slug:name)
  environment: dev             # the configuration profile whose current release is read
  render: ["config/*.tmpl"]    # templates in the checkout: config/app.env.tmpl -> config/app.env
```

The JSON Schema (taiji-yml.schema.json) says which keys there are and of which type; this file says
what a schema cannot: an environment written as SCM names them, templates ending in `.tmpl`, and
globs that stay inside the checkout. The runner does the rendering (runners/configure.py).
"""

from __future__ import annotations

import re

from taiji.platform.errors import msg

# SCM's rule for environment (profile) names; SCM is not imported by the file's parser.
ENVIRONMENT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
SUFFIX = ".tmpl"


def errors(data: dict, lines, error_type, check_glob) -> list:
    """What is wrong with the file's `config:` block (``lines``: the file's line finder;
    ``error_type``: FileError; ``check_glob``: the file's glob check, which appends errors)."""
    block = data.get("config")
    if not block:
        return []
    found: list = []
    environment = block["environment"]
    if not ENVIRONMENT.match(environment):
        found.append(error_type(lines.of(("config", "environment")), msg(
            "config.environment: '%(name)s' is not an environment name; use lower-case letters, digits "
            "and '-' (at most 32, not starting or ending with '-'), like dev or prod", name=environment)))
    component = block["component"]
    if component != component.strip() or "/" in component:
        found.append(error_type(lines.of(("config", "component")), msg(
            "config.component: '%(name)s' is not a component name; write the component's name, or "
            "product-slug:name when two products have a component of that name", name=component)))
    for index, pattern in enumerate(block["render"]):
        line = lines.of(("config", "render", index))
        if not pattern.endswith(SUFFIX):
            found.append(error_type(line, msg(
                "config.render: '%(pattern)s' must name template files ending in .tmpl (config/app.env.tmpl "
                "is rendered into config/app.env)", pattern=pattern)))
            continue
        check_glob(pattern, line, "config.render", found, path_like=True)
    return found


def normalised(data: dict) -> dict:
    """What each job's spec carries (``{"config": {...}}``), or nothing when the file has no block."""
    block = data.get("config")
    if not block:
        return {}
    return {"config": {"component": block["component"], "environment": block["environment"],
                       "render": list(block["render"])}}
