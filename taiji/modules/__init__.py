"""The fifteen subsystems; each exports a `module` object (see taiji.platform.module)."""
