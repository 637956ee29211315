"""Jenkins as a CI runner: a tenant's controllers, the jobs Taiji generates and follows on them,
and the controllers' own jobs that a pipeline step (or a person) triggers.

- ``models``: controllers (URL, user, API token sealed) and the builds Taiji follows;
- ``client``: the only way to talk to a controller (egress policy, pinned address, crumbs,
  errors worded for people);
- ``jenkinsfile``: a job of `.taiji.yml` as a declarative pipeline and its config.xml;
- ``controllers``: the services behind REST and the console;
- ``runner``: the ``jenkins`` runner (start, cancel, poll).
"""
