"""The fifteen subsystems; each exports a `module` object (see taiji.platform.module)."""

# The subsystems this build enables, lowest layer first, as import paths: the kernel imports them by
# name (taiji.platform.app.create_app) and never names one itself. Enabling a module is one line here.
ENABLED_MODULES: tuple[str, ...] = (
    "taiji.modules.iam",
    "taiji.modules.tm",
    "taiji.modules.spm",
    "taiji.modules.tx",
    "taiji.modules.vcs",
    "taiji.modules.scm",
    "taiji.modules.bpr",
    "taiji.modules.cicd",
)
