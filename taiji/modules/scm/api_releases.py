"""SCM REST routes, part two: releases (publish, four-eyes approval, gray, rollback), the instances
that read the configuration, and its history."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth
from taiji.platform.api import set_page_count

from . import services
from .api import C, blp
from .permissions import Perm
from .schemas import (
    ScmHistoryOut,
    ScmInstanceOut,
    ScmReleaseDetailOut,
    ScmReleaseIn,
    ScmReleaseOut,
    ScmRollbackIn,
)

R = C + "/releases/<int:release_number>"


def _marked(tenant, component, environment, releases):
    """The releases with ``current`` set (the one instances get unless gray selects them)."""
    current = services.current_release(tenant, component, environment)
    for release in releases:
        release.current = current is not None and release.id == current.id
    return releases


def _one(tenant, component, environment, number):
    found = services.resolve_component(tenant, component)
    release = services.get_release(tenant, found, environment, number)
    return found, release


def _detail(tenant, component, environment, release):
    _marked(tenant, component, environment, [release])
    release.instances = [i for i in services.list_instances(tenant, component, environment)
                         if i.release_number == release.number]
    return release


@blp.route(C + "/releases")
class Releases(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmReleaseOut(many=True))
    @blp.paginate()
    def get(self, tenant, component, environment, pagination_parameters):
        """Releases, newest first"""
        found = services.resolve_component(tenant, component)
        page = services.list_releases(tenant, found, environment, pagination_parameters.page,
                                      pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return _marked(tenant, found, environment, page.items)

    @auth.require(Perm.CONFIG_PUBLISH)
    @blp.arguments(ScmReleaseIn)
    @blp.response(201, ScmReleaseDetailOut)
    def post(self, data, tenant, component, environment):
        """Publish the draft as the next numbered release: pending when the environment wants four eyes,
        gray with a selector or percentage, else current at once; a schema violation is a 422"""
        found = services.resolve_component(tenant, component)
        release = services.publish(tenant, auth.current_principal(), found, environment,
                                   comment=data["comment"], gray=data["gray"])
        return _detail(tenant, found, environment, release)


@blp.route(R)
class ReleaseView(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmReleaseDetailOut)
    def get(self, tenant, component, environment, release_number):
        """One release with its items (secrets masked) and the instances holding it"""
        found, release = _one(tenant, component, environment, release_number)
        return _detail(tenant, found, environment, release)


def _act(action):
    def act(tenant, component, environment, release_number):
        found, release = _one(tenant, component, environment, release_number)
        changed = action(tenant, auth.current_principal(), release)
        return _detail(tenant, found, environment, changed)
    return act


@blp.route(R + "/rollback")
class Rollback(MethodView):
    @auth.require(Perm.CONFIG_PUBLISH)
    @blp.arguments(ScmRollbackIn)
    @blp.response(201, ScmReleaseDetailOut)
    def post(self, data, tenant, component, environment, release_number):
        """A new release copying this one's items, current at once (no four eyes); "Rollback to #n"
        unless a comment is given"""
        found, release = _one(tenant, component, environment, release_number)
        copy = services.rollback(tenant, auth.current_principal(), release, comment=data["comment"])
        return _detail(tenant, found, environment, copy)


@blp.route(R + "/approve")
class Approve(MethodView):
    @auth.require(Perm.CONFIG_PUBLISH)
    @blp.response(200, ScmReleaseDetailOut)
    def post(self, tenant, component, environment, release_number):
        """Publish a pending release; someone other than its author (four eyes)"""
        return _act(services.approve)(tenant, component, environment, release_number)


@blp.route(R + "/reject")
class Reject(MethodView):
    @auth.require(Perm.CONFIG_PUBLISH)
    @blp.response(200, ScmReleaseDetailOut)
    def post(self, tenant, component, environment, release_number):
        """Close a pending release unpublished"""
        return _act(services.reject)(tenant, component, environment, release_number)


@blp.route(R + "/promote")
class Promote(MethodView):
    @auth.require(Perm.CONFIG_PUBLISH)
    @blp.response(200, ScmReleaseDetailOut)
    def post(self, tenant, component, environment, release_number):
        """Make a gray release current for every instance"""
        return _act(services.promote)(tenant, component, environment, release_number)


@blp.route(R + "/abandon")
class Abandon(MethodView):
    @auth.require(Perm.CONFIG_PUBLISH)
    @blp.response(200, ScmReleaseDetailOut)
    def post(self, tenant, component, environment, release_number):
        """End a gray release; its instances go back to the current release"""
        return _act(services.abandon)(tenant, component, environment, release_number)


@blp.route(C + "/instances")
class Instances(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmInstanceOut(many=True))
    def get(self, tenant, component, environment):
        """Instances that read this configuration, with their labels and the release they hold"""
        return services.list_instances(tenant, component, environment)


@blp.route(C + "/history")
class History(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmHistoryOut(many=True))
    @blp.paginate()
    def get(self, tenant, component, environment, pagination_parameters):
        """Every change of the items reaching this component and environment (a secret's values never
        shown) and every release decision, newest first"""
        found = services.resolve_component(tenant, component)
        page = services.history(tenant, found, environment, pagination_parameters.page,
                                pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items
