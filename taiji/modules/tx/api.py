"""TX REST routes: submit sagas and TCC transactions, follow them, and recover them by hand."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth
from taiji.platform.api import Blueprint, set_page_count
from taiji.platform.errors import NotFound, msg

from . import services
from .permissions import Perm
from .schemas import (
    OPERATIONS,
    ActionIn,
    MessageDetailOut,
    MessageIn,
    MessageOut,
    MessageQueryIn,
    NotificationDetailOut,
    NotificationIn,
    NotificationOut,
    NotificationQueryIn,
    SagaIn,
    TccIn,
    TransactionDetailOut,
    TransactionOut,
    TransactionQueryIn,
)

blp = Blueprint("tx_api", __name__, url_prefix="/api/v1",
                description="Distributed transactions: sagas, TCC, operator actions, notifications, messages")


T = "/tenants/<tenant>/tx"


def _detail(transaction):
    transaction.timeline = services.timeline(transaction)
    return transaction


@blp.route(T + "/sagas")
class Sagas(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.arguments(SagaIn)
    @blp.response(201, TransactionOut)
    def post(self, data, tenant):
        """Submit a saga: ordered steps, or a DAG with `depends_on`; each an action and compensation URL"""
        return services.submit_saga(tenant, data, principal=auth.current_principal())


@blp.route(T + "/tcc")
class Tccs(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.arguments(TccIn)
    @blp.response(201, TransactionOut)
    def post(self, data, tenant):
        """Submit a TCC transaction: branches with try, confirm and cancel URLs"""
        return services.submit_tcc(tenant, data, principal=auth.current_principal())


@blp.route(T + "/transactions")
class Transactions(MethodView):
    @auth.require(Perm.TRANSACTION_READ)
    @blp.arguments(TransactionQueryIn, location="query")
    @blp.response(200, TransactionOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """The tenant's transactions, newest first; filter by state, kind, business key and age"""
        page = services.list_transactions(tenant, **query, page=pagination_parameters.page,
                                          page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(T + "/transactions/<gid>")
class TransactionItem(MethodView):
    @auth.require(Perm.TRANSACTION_READ)
    @blp.response(200, TransactionDetailOut)
    def get(self, tenant, gid):
        """One transaction with its steps and the timeline of every call"""
        return _detail(services.get_transaction(tenant, gid))


@blp.route(T + "/transactions/<gid>/actions/<operation>")
class TransactionAction(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.arguments(ActionIn)
    @blp.response(200, TransactionDetailOut)
    def post(self, data, tenant, gid, operation):
        """retry, stop, forward, compensate or skip (with `step`); idempotent, 409 where it makes no sense"""
        if operation not in OPERATIONS:
            raise NotFound(msg("No action '%(operation)s'; use one of: %(operations)s.",
                               operation=operation, operations=', '.join(OPERATIONS)))
        transaction = services.operate(tenant, gid, operation, principal=auth.current_principal(), **data)
        return _detail(transaction)


# The platform's own transactions (no tenant): tenant provisioning and the like.
P = "/tx/transactions"


@blp.route(P)
class PlatformTransactions(MethodView):
    @auth.require(Perm.PLATFORM_READ)
    @blp.arguments(TransactionQueryIn, location="query")
    @blp.response(200, TransactionOut(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """The platform's own transactions (tenant provisioning …), newest first; same filters"""
        page = services.list_transactions(None, **query, page=pagination_parameters.page,
                                          page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(P + "/<gid>")
class PlatformTransactionItem(MethodView):
    @auth.require(Perm.PLATFORM_READ)
    @blp.response(200, TransactionDetailOut)
    def get(self, gid):
        """One of the platform's transactions with the timeline of every call (local steps included)"""
        return _detail(services.get_transaction(None, gid))


@blp.route(P + "/<gid>/actions/<operation>")
class PlatformTransactionAction(MethodView):
    @auth.require(Perm.PLATFORM_OPERATE)
    @blp.arguments(ActionIn)
    @blp.response(200, TransactionDetailOut)
    def post(self, data, gid, operation):
        """retry, stop, forward, compensate or skip a step of one of the platform's transactions"""
        if operation not in OPERATIONS:
            raise NotFound(msg("No action '%(operation)s'; use one of: %(operations)s.",
                               operation=operation, operations=', '.join(OPERATIONS)))
        return _detail(services.operate(None, gid, operation, principal=auth.current_principal(), **data))


@blp.route(T + "/notifications")
class Notifications(MethodView):
    @auth.require(Perm.TRANSACTION_READ)
    @blp.arguments(NotificationQueryIn, location="query")
    @blp.response(200, NotificationOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """The tenant's notifications, newest first; filter by state"""
        page = services.list_notifications(tenant, **query, page=pagination_parameters.page,
                                           page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.arguments(NotificationIn)
    @blp.response(201, NotificationOut)
    def post(self, data, tenant):
        """Send a signed best-effort notification: repeated on the schedule until a 2xx with the ack body"""
        return services.send_notification(tenant, data)


@blp.route(T + "/notifications/<nid>")
class NotificationItem(MethodView):
    @auth.require(Perm.TRANSACTION_READ)
    @blp.response(200, NotificationDetailOut)
    def get(self, tenant, nid):
        """How a notification went: delivered, pending (with the next attempt) or given up; every attempt"""
        return services.notification_detail(tenant, nid)


@blp.route(T + "/notifications/<nid>/retry")
class NotificationRetry(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.response(200, NotificationDetailOut)
    def post(self, tenant, nid):
        """Make the next attempt of a pending notification now (idempotent; 409 once it is finished)"""
        return services.act_on_notification(tenant, nid, "retry",
                                            principal=auth.current_principal())


@blp.route(T + "/notifications/<nid>/stop")
class NotificationStop(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.response(200, NotificationDetailOut)
    def post(self, tenant, nid):
        """Make no more attempts of a pending notification (idempotent; 409 once delivered or given up)"""
        return services.act_on_notification(tenant, nid, "stop",
                                            principal=auth.current_principal())


@blp.route(T + "/messages")
class Messages(MethodView):
    @auth.require(Perm.TRANSACTION_READ)
    @blp.arguments(MessageQueryIn, location="query")
    @blp.response(200, MessageOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """The tenant's two-phase messages, newest first; filter by state"""
        page = services.list_messages(tenant, **query, page=pagination_parameters.page,
                                      page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.arguments(MessageIn)
    @blp.response(201, MessageOut)
    def post(self, data, tenant):
        """Prepare a two-phase message; submit it after your local commit, or let the check-back decide"""
        return services.prepare_message(tenant, data)


@blp.route(T + "/messages/<mid>")
class MessageItem(MethodView):
    @auth.require(Perm.TRANSACTION_READ)
    @blp.response(200, MessageDetailOut)
    def get(self, tenant, mid):
        """A message's state, payload and every check-back call"""
        return services.message_detail(tenant, mid)


@blp.route(T + "/messages/<mid>/recheck")
class MessageRecheck(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.response(200, MessageDetailOut)
    def post(self, tenant, mid):
        """Ask the participant's check-back URL now (idempotent; 409 once submitted or aborted)"""
        return services.recheck_message(tenant, mid, principal=auth.current_principal())


@blp.route(T + "/messages/<mid>/submit")
class MessageSubmit(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.response(200, MessageOut)
    def post(self, tenant, mid):
        """Publish a prepared message (idempotent; 409 once aborted)"""
        return services.decide_message(tenant, mid, submit=True)


@blp.route(T + "/messages/<mid>/abort")
class MessageAbort(MethodView):
    @auth.require(Perm.TRANSACTION_OPERATE)
    @blp.response(200, MessageOut)
    def post(self, tenant, mid):
        """Drop a prepared message (idempotent; 409 once published)"""
        return services.decide_message(tenant, mid, submit=False)
