"""The tenant's side of the transaction engine: submit with the egress policy applied, read,
and the operator actions by name — shared by the REST API and the console."""

from __future__ import annotations

import datetime as dt

from taiji.platform import audit
from taiji.platform.errors import Invalid, field_error, msg
from taiji.platform.tx import egress, local, messages, notify
from taiji.platform.tx import services as tx
from taiji.platform.tx.models import Transaction


def _check_egress(specs: list[dict], field: str, keys: tuple[str, ...]) -> None:
    errors: dict[str, list[str]] = {}
    for i, spec in enumerate(specs):
        named = spec.get("local")
        if isinstance(named, str) and local.lookup(named) is not None and not local.lookup(named).tenants:
            errors[f"{field}.{i}.local"] = [f"The local step '{named}' is not offered to tenants' "
                                            "transactions."]
        for key in keys:
            url = spec.get(key)
            if local.is_local(url):
                # A module's own handler: only those it offers to tenants (the rest are the
                # platform's, e.g. TM's provisioning, and would act beyond the tenant).
                name = url[len(local.SCHEME):]
                if local.lookup(name) is not None and not local.lookup(name).tenants:
                    errors[f"{field}.{i}.{key}"] = [f"The local step '{name}' is not offered to tenants' "
                                                    "transactions."]
            elif isinstance(url, str) and url.startswith(("http://", "https://")):
                reason = egress.refusal(url)
                if reason:
                    errors[f"{field}.{i}.{key}"] = [reason]
    if errors:
        raise Invalid(msg("A participant address is not allowed."), errors={"json": errors})


def submit_saga(tenant, data: dict, *, principal) -> Transaction:
    """Record a tenant's saga (see ``taiji.platform.tx.services.submit_saga``) after checking every URL."""
    steps = data.get("steps") or []
    _check_egress(steps, "steps", ("action", "compensate"))
    return tx.submit_saga(steps, gid=data.get("gid"), tenant=tenant, business_key=data.get("business_key"),
                          options=data.get("options"), created_by=principal.email)


def submit_tcc(tenant, data: dict, *, principal) -> Transaction:
    """Record a tenant's TCC transaction after checking every URL."""
    branches = [{**{k: v for k, v in b.items() if k != "try_"}, "try": b.get("try_", b.get("try"))}
                for b in data.get("branches") or []]
    _check_egress(branches, "branches", ("try", "confirm", "cancel"))
    return tx.submit_tcc(branches, gid=data.get("gid"), tenant=tenant, business_key=data.get("business_key"),
                         options=data.get("options"), created_by=principal.email)


def list_transactions(tenant, *, state=None, kind=None, business_key=None, older_than_minutes=None,
                      page=1, page_size=20):
    """The tenant's transactions, newest first."""
    older = dt.timedelta(minutes=older_than_minutes) if older_than_minutes else None
    return tx.list_transactions(tenant=tenant, state=state, kind=kind, business_key=business_key,
                                older_than=older, page=page, page_size=page_size)


def get_transaction(tenant, gid: str) -> Transaction:
    return tx.get_transaction(gid, tenant=tenant)


def timeline(transaction: Transaction):
    return tx.timeline(transaction)


def operate(tenant, gid: str, operation: str, *, principal, step: str | None = None,
            reason: str | None = None) -> Transaction:
    """Run one operator action (retry, stop, forward, compensate, skip); each is audited."""
    if operation == "retry":
        return tx.retry_now(gid, tenant=tenant, actor=principal)
    if operation == "stop":
        return tx.force_stop(gid, tenant=tenant, actor=principal, reason=reason)
    if operation == "forward":
        return tx.forward(gid, step=step or None, tenant=tenant, actor=principal)
    if operation == "compensate":
        return tx.compensate(gid, tenant=tenant, actor=principal)
    if operation == "skip":
        if not step:
            raise field_error("step", msg("Name the step to skip."))
        return tx.skip_step(gid, step, tenant=tenant, actor=principal)
    raise field_error("operation", msg("Use retry, stop, forward, compensate or skip."))


def send_notification(tenant, data: dict) -> notify.Notification:
    """Record a best-effort notification of the tenant to a third party, after the egress check."""
    _check_egress([data], "notification", ("url",))
    return notify.notify(data["url"], data.get("body") or {}, secret=data["secret"], tenant=tenant,
                         ack=data.get("ack") or notify.DEFAULT_ACK, schedule=data.get("schedule"),
                         nid=data.get("nid"))


def get_notification(tenant, nid: str) -> notify.Notification:
    return notify.get(nid, tenant=tenant)


def notification_detail(tenant, nid: str) -> notify.Notification:
    """A notification with the log of its attempts (``attempt_log``)."""
    row = notify.get(nid, tenant=tenant)
    row.attempt_log = notify.attempts(row)
    return row


def list_notifications(tenant, *, state=None, page=1, page_size=20):
    """The tenant's notifications, newest first."""
    return notify.list_notifications(tenant=tenant, state=state, page=page, page_size=page_size)


def act_on_notification(tenant, nid: str, action: str, *, principal) -> notify.Notification:
    """``retry`` (attempt now) or ``stop`` a pending notification; audited."""
    row = notify.retry_now(nid, tenant=tenant) if action == "retry" else notify.stop(nid, tenant=tenant)
    audit.record(f"tx.notification.{'retried' if action == 'retry' else 'stopped'}", "tx_notification", nid,
                 tenant=tenant, details={"state": row.state}, actor=principal)
    return notification_detail(tenant, nid)


def prepare_message(tenant, data: dict) -> messages.Message:
    """Record a tenant's prepared message (two-phase message) after checking its check-back URL."""
    _check_egress([data], "message", ("check_url",))
    return messages.prepare(data["topic"], data.get("payload") or {}, check_url=data.get("check_url"),
                            mid=data.get("mid"), tenant=tenant)


def get_message(tenant, mid: str) -> messages.Message:
    return messages.get(mid, tenant=tenant)


def message_detail(tenant, mid: str) -> messages.Message:
    """A message with the log of its check-backs (``check_log``)."""
    row = messages.get(mid, tenant=tenant)
    row.check_log = messages.checks(row)
    return row


def list_messages(tenant, *, state=None, page=1, page_size=20):
    """The tenant's two-phase messages, newest first."""
    return messages.list_messages(tenant=tenant, state=state, page=page, page_size=page_size)


def recheck_message(tenant, mid: str, *, principal) -> messages.Message:
    """Ask the participant about a prepared message now; audited."""
    row = messages.recheck(mid, tenant=tenant)
    audit.record("tx.message.rechecked", "tx_message", mid, tenant=tenant, details={"state": row.state},
                 actor=principal)
    return message_detail(tenant, mid)


def decide_message(tenant, mid: str, submit: bool) -> messages.Message:
    """Submit (publish) or abort a tenant's prepared message."""
    return messages.submit(mid, tenant=tenant) if submit else messages.abort(mid, tenant=tenant)
