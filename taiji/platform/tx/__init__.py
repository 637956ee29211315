"""The transaction engine (TJDTH): sagas and TCC over HTTP or in-process (``local``), with a redo
queue and a person last.

``services`` is the public face (submit, follow, operator actions); ``engine`` advances
transactions; ``tasks`` holds the Celery timer and worker tasks. Importing this package
registers the tables and the tasks.
"""

from taiji.platform.tx import local, messages, models, notify, tasks  # noqa: F401
