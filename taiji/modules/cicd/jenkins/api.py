"""REST routes of the tenant's Jenkins controllers and of each repository's CI settings."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint

from ..permissions import Perm
from ..services import runner_settings
from . import controllers
from .schemas import (
    ConnectionTestOut,
    JenkinsControllerIn,
    JenkinsControllerOut,
    JenkinsControllerPatchIn,
    RemoteJobOut,
    RepositorySettingsIn,
    RepositorySettingsOut,
    TriggerIn,
    TriggerOut,
)

blp = Blueprint(
    "cicd_jenkins_api",
    __name__,
    url_prefix="/api/v1",
    description="Jenkins controllers of a tenant (runner: jenkins) and each repository's default runner",
)

C = "/tenants/<tenant>/cicd/jenkins/controllers"


@blp.before_request
def _resolve_path_first():
    """A controller or repository this tenant does not have is a 404 whatever the body or If-Match."""
    args = request.view_args or {}
    tenant = tenancy.current()
    if tenant is None or auth.current_principal() is None:
        return
    if "controller" in args:
        controllers.get_controller(tenant, args["controller"])
    elif "repository" in args and request.endpoint and request.endpoint.startswith(blp.name + "."):
        runner_settings.get_settings(tenant, args["repository"])


@blp.route(C)
class Controllers(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.response(200, JenkinsControllerOut(many=True))
    def get(self, tenant):
        """The tenant's Jenkins controllers (never their tokens)"""
        return controllers.list_controllers(tenant)

    @auth.require(Perm.RUNNER_MANAGE)
    @blp.arguments(JenkinsControllerIn)
    @blp.response(201, JenkinsControllerOut)
    def post(self, data, tenant):
        """Register a controller: its URL must pass the egress policy; the API token is sealed"""
        return controllers.create_controller(tenant, data, actor=auth.current_principal())


@blp.route(C + "/<controller>")
class ControllerItem(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.etag
    @blp.response(200, JenkinsControllerOut)
    def get(self, tenant, controller):
        """One controller"""
        return controllers.get_controller(tenant, controller)

    @auth.require(Perm.RUNNER_MANAGE)
    @blp.etag
    @blp.arguments(JenkinsControllerPatchIn)
    @blp.response(200, JenkinsControllerOut)
    def patch(self, data, tenant, controller):
        """Change URL, user, token (write-only), description or default; needs If-Match"""
        row = controllers.get_controller(tenant, controller)
        blp.check_etag(row, JenkinsControllerOut)
        return controllers.update_controller(tenant, row, data, actor=auth.current_principal())

    @auth.require(Perm.RUNNER_MANAGE)
    @blp.etag
    @blp.response(204)
    def delete(self, tenant, controller):
        """Remove a controller (jobs that name it fail with that reason); needs If-Match"""
        row = controllers.get_controller(tenant, controller)
        blp.check_etag(row, JenkinsControllerOut)
        controllers.delete_controller(tenant, row, actor=auth.current_principal())


@blp.route(C + "/<controller>/test")
class ControllerTest(MethodView):
    @auth.require(Perm.RUNNER_MANAGE)
    @blp.response(200, ConnectionTestOut)
    def post(self, tenant, controller):
        """Talk to the controller as its user: `ok`, or why not (unreachable, credentials, not a Jenkins)"""
        row = controllers.get_controller(tenant, controller)
        return controllers.test_connection(tenant, row, actor=auth.current_principal())


@blp.route(C + "/<controller>/jobs")
class ControllerJobs(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.response(200, RemoteJobOut(many=True))
    def get(self, tenant, controller):
        """The controller's own jobs, each with its last build (502 when the controller does not answer)"""
        return controllers.list_remote_jobs(tenant, controllers.get_controller(tenant, controller))


@blp.route(C + "/<controller>/jobs/<path:jenkins_job>/build")
class ControllerJobBuild(MethodView):
    @auth.require(Perm.RUNNER_MANAGE)
    @blp.arguments(TriggerIn)
    @blp.response(202, TriggerOut)
    def post(self, data, tenant, controller, jenkins_job):
        """Queue a build of one of the controller's jobs, with parameters; answers the queue item"""
        row = controllers.get_controller(tenant, controller)
        return controllers.trigger_remote_job(
            tenant, row, jenkins_job, data["parameters"], actor=auth.current_principal()
        )


@blp.route("/tenants/<tenant>/repositories/<repository>/ci-settings")
class RepositoryCiSettings(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.response(200, RepositorySettingsOut)
    def get(self, tenant, repository):
        """The repository's CI settings: the runner of jobs that name none"""
        return runner_settings.get_settings(tenant, repository)

    @auth.require(Perm.RUNNER_MANAGE)
    @blp.arguments(RepositorySettingsIn)
    @blp.response(200, RepositorySettingsOut)
    def put(self, data, tenant, repository):
        """Choose the repository's default runner (platform or jenkins, and which controller)"""
        return runner_settings.set_settings(tenant, repository, data, actor=auth.current_principal())
