"""SPM's audit actions as sentences (``taiji.platform.audit_sentences``), with links to their
targets: "alice added the dependency of shop/web on shop/api", not "did spm.component.dependency-added"."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence


def _product(entry, tenant):
    # A version's target is "product@version"; a product's is its slug.
    slug = entry.target.partition("@")[0]
    return url_for("spm.product", tenant=tenant.slug, product=slug) if tenant is not None and slug else None


def _versions(entry, tenant):
    url = _product(entry, tenant)
    return f"{url}#versions" if url else None


def _component(entry, tenant):
    product, _, name = entry.target.partition("/")
    if tenant is None or not product or not name:
        return None
    return url_for("spm.component", tenant=tenant.slug, product=product, component=name)


def _products(entry, tenant):
    return url_for("spm.products", tenant=tenant.slug) if tenant is not None else None


def _rules(entry, tenant):
    return url_for("spm.rules", tenant=tenant.slug) if tenant is not None else None


SENTENCES = [
    Sentence("spm.product.created", _l("%(actor)s created the product %(name)s"), None, _product),
    Sentence("spm.product.updated", _l("%(actor)s changed the product %(target)s"), None, _product),
    Sentence("spm.product.deleted", _l("%(actor)s deleted the product %(target)s"), None, _products),
    Sentence("spm.component.created", _l("%(actor)s added the component %(target)s"), None, _component),
    Sentence("spm.component.updated", _l("%(actor)s changed the component %(target)s"), None, _component),
    Sentence("spm.component.deleted", _l("%(actor)s deleted the component %(target)s"), None, _product),
    Sentence("spm.component.dependency-added", _l("%(actor)s made %(target)s depend on %(on)s"), None,
             _component),
    Sentence("spm.component.dependency-updated", _l("%(actor)s changed a dependency of %(target)s"), None,
             _component),
    Sentence("spm.component.dependency-removed",
             _l("%(actor)s removed the dependency of %(target)s on %(on)s"), None, _component),
    Sentence("spm.rules.changed", _l("%(actor)s changed the architecture rules"), None, _rules),
    Sentence("spm.version.created", _l("%(actor)s cut the version %(target)s"), None, _versions),
    Sentence("spm.version.updated", _l("%(actor)s changed the notes of the version %(target)s"), None,
             _versions),
    Sentence("spm.version.deleted", _l("%(actor)s deleted the version %(target)s"), None, _versions),
    Sentence("spm.version.released", _l("%(actor)s released the version %(target)s"), None, _versions),
    Sentence("spm.version.deprecated", _l("%(actor)s deprecated the version %(target)s"), None, _versions),
    Sentence("spm.version.retired", _l("%(actor)s retired the version %(target)s"), None, _versions),
]
