"""SCM's audit actions as sentences (``taiji.platform.audit_sentences``); a layer or a release's
status reads as the console's word for it ("环境层"), not its code ("environment")."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence

from .forms import LAYER_LABELS, STATUS_LABELS


def _words(entry) -> dict:
    details = entry.details or {}
    words = {}
    for key, labels in (("layer", LAYER_LABELS), ("status", STATUS_LABELS)):
        if isinstance(details.get(key), str):
            words[key] = str(labels.get(details[key], details[key])).lower()
    return words

SENTENCES = [
    Sentence("scm.item.created", _l("%(actor)s added the configuration item %(target)s (%(layer)s layer)"),
             _words),
    Sentence("scm.item.updated", _l("%(actor)s changed the configuration item %(target)s (%(layer)s layer)"),
             _words),
    Sentence("scm.item.deleted", _l("%(actor)s deleted the configuration item %(target)s (%(layer)s layer)"),
             _words),
    Sentence("scm.secret.revealed", _l("%(actor)s revealed the secret configuration value %(target)s")),
    Sentence("scm.release.created", _l("%(actor)s published configuration release %(target)s (%(status)s)"),
             _words),
    Sentence("scm.release.approved", _l("%(actor)s approved configuration release %(target)s")),
    Sentence("scm.release.rejected", _l("%(actor)s rejected configuration release %(target)s")),
    Sentence("scm.release.promoted", _l("%(actor)s promoted gray configuration release %(target)s to all")),
    Sentence("scm.release.abandoned", _l("%(actor)s abandoned gray configuration release %(target)s")),
    Sentence("scm.release.rolled_back",
             _l("%(actor)s rolled configuration back to release #%(from_number)s as %(target)s")),
    Sentence("scm.policy.updated", _l("%(actor)s changed the publishing policy of environment %(target)s")),
    Sentence("scm.schema.updated", _l("%(actor)s set the configuration schema of %(target)s")),
    Sentence("scm.schema.deleted", _l("%(actor)s removed the configuration schema of %(target)s")),
    Sentence("scm.access_key.created", _l("%(actor)s created the configuration access key %(target)s")),
    Sentence("scm.access_key.revoked", _l("%(actor)s revoked the configuration access key %(target)s")),
]
