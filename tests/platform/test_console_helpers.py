"""The console's shared request helpers: the page number, and a service's refusal shown on a form or
flashed, for every kind of refusal (quota included)."""

from __future__ import annotations

import pytest
from flask import session
from flask_wtf import FlaskForm
from wtforms import StringField

from taiji.platform.errors import Conflict, Forbidden, Invalid, NotFound, field_error
from taiji.platform.quotas import Meter, QuotaExceeded
from taiji.platform.web.console import MAX_PAGE, apply_service_error, page_arg, refusals
from tests.factories import make_member


class _Form(FlaskForm):
    class Meta:
        csrf = False

    name = StringField()
    owners = StringField()


def _quota() -> QuotaExceeded:
    return QuotaExceeded(Meter("widgets", "widgets", 3, lambda tenant: 3), used=3, limit=3, adding=1)


@pytest.mark.parametrize(("raw", "page"), [
    (None, 1), ("3", 3), ("0", 1), ("-4", 1), ("two", 1), ("", 1), ("1.5", 1),
    ("99999999999999999999999", MAX_PAGE),
])
def test_page_arg_is_a_positive_whole_number_and_anything_else_is_page_one(app, raw, page):
    query = {} if raw is None else {"page": raw}
    with app.test_request_context("/", query_string=query):
        assert page_arg() == page


@pytest.mark.parametrize("path", ["/t/{slug}/members", "/t/{slug}/products", "/t/{slug}/pipelines",
                                  "/t/{slug}/roles", "/t/{slug}/transactions"])
def test_a_list_page_far_past_the_end_or_garbled_is_never_a_server_error(client, login, tenant, path):
    login(make_member(tenant, "owner"))
    for raw in ("99999999999999999999999", "-1", "x"):
        response = client.get(path.format(slug=tenant.slug), query_string={"page": raw})
        assert response.status_code == 200, (path, raw, response.status_code)


@pytest.mark.parametrize("error", [NotFound("No product 'x'."), Conflict("The name is taken."),
                                   Forbidden("Only an owner may do that."), Invalid("Not valid.")])
def test_a_refusal_without_field_errors_goes_under_the_fallback_field(app, error):
    with app.test_request_context("/", method="POST"):
        form = _Form()
        assert apply_service_error(form, error, field="name") is True
        assert form.name.errors == [error.detail] and not form.owners.errors


def test_field_errors_go_under_their_fields_and_unknown_ones_under_the_fallback(app):
    error = Invalid("Check the fields.",
                    errors={"json": {"owners.0": ["Not an email."], "colour": ["Unknown."]}})
    with app.test_request_context("/", method="POST"):
        form = _Form()
        apply_service_error(form, error, field="name")
        assert form.owners.errors == ["Not an email."]
        assert form.name.errors == ["colour: Unknown."]

        form = _Form()
        apply_service_error(form, field_error("name", "Too long."))
        assert form.name.errors == ["Too long."] and not form.form_errors


def test_without_a_fallback_field_the_refusal_is_the_forms_own_error(app):
    with app.test_request_context("/", method="POST"):
        form = _Form()
        apply_service_error(form, Conflict("The name is taken."))
        assert form.form_errors == ["The name is taken."]


def test_a_quota_refusal_is_worded_for_the_console_in_its_language(app):
    with app.test_request_context("/", method="POST", headers={"Accept-Language": "zh-CN"}):
        form = _Form()
        assert apply_service_error(form, _quota(), field="name")
        assert "widgets" in form.name.errors[0] and "3" in form.name.errors[0]
        assert "Quota 'widgets' exceeded" not in form.name.errors[0]  # not the API's English sentence


def test_anything_but_a_refusal_is_left_alone(app):
    with app.test_request_context("/", method="POST"):
        form = _Form()
        assert apply_service_error(form, ValueError("boom"), field="name") is False
        assert not form.errors
        with pytest.raises(ValueError), refusals(form, "name"):
            raise ValueError("a bug is a 500, not a form error")


def test_refusals_keeps_the_outcome_and_flashes_without_a_form(app):
    with app.test_request_context("/", method="POST"):
        with refusals() as outcome:
            raise Conflict("Already running.")
        assert not outcome.ok and isinstance(outcome.error, Conflict)
        assert session["_flashes"] == [("error", "Already running.")]

        with refusals(category="danger", message=lambda e: f"No: {e.detail}") as outcome:
            raise Forbidden("Owners only.")
        assert session["_flashes"][1:] == [("danger", "No: Owners only.")]

        with refusals() as outcome:
            pass
        assert outcome.ok


@pytest.mark.parametrize(("locale", "texts"), [
    ("en", ["No products yet", "Products"]),
    ("zh_Hans", ["暂无产品", "产品"]),
])
def test_the_list_card_renders_in_both_languages(client, login, tenant, locale, texts):
    login(make_member(tenant, "owner"))
    client.post("/locale", data={"locale": locale})
    page = client.get(f"/t/{tenant.slug}/products").get_data(as_text=True)
    assert all(text in page for text in texts)
    assert 'data-testid="empty-state"' in page


def test_the_list_card_shows_rows_columns_and_the_pager(client, login, tenant, api_as):
    owner = make_member(tenant, "owner")
    api = api_as(owner)
    for n in range(26):
        assert api.post(f"/api/v1/tenants/{tenant.slug}/products",
                        json={"slug": f"p{n:02d}", "name": f"Product {n}"}).status_code == 201
    login(owner)
    client.post("/locale", data={"locale": "zh_Hans"})
    page = client.get(f"/t/{tenant.slug}/products").get_data(as_text=True)
    assert page.count('data-testid="product-row"') > 0 and "<th>产品</th>" in page
    assert 'class="pagination' in page and f"/t/{tenant.slug}/products?page=2" in page


def test_a_console_wording_replaces_the_whole_refusal_under_the_field(app):
    with app.test_request_context("/", method="POST"):
        form = _Form()
        apply_service_error(form, field_error("owners", "bad"), field="name", message=lambda e: "Use names.")
        assert form.name.errors == ["Use names."] and not form.owners.errors


def test_a_wording_that_returns_none_leaves_the_refusal_to_its_fields(app):
    only_conflicts = lambda e: "Taken; choose another." if isinstance(e, Conflict) else None  # noqa: E731
    with app.test_request_context("/", method="POST"):
        form = _Form()
        apply_service_error(form, field_error("owners", "Not an email."), field="name",
                            message=only_conflicts)
        assert form.owners.errors == ["Not an email."] and not form.name.errors
        form = _Form()
        apply_service_error(form, Conflict("x"), field="name", message=only_conflicts)
        assert form.name.errors == ["Taken; choose another."]


def test_the_fallback_field_may_depend_on_the_refusal(app):
    where = lambda e: "owners" if isinstance(e, Forbidden) else "name"  # noqa: E731
    with app.test_request_context("/", method="POST"):
        form = _Form()
        apply_service_error(form, Forbidden("Owners only."), field=where)
        apply_service_error(form, _quota(), field=where)
        assert form.owners.errors == ["Owners only."] and "widgets" in form.name.errors[0]


def test_refusals_lets_chosen_types_through_and_can_keep_quiet(app):
    with app.test_request_context("/", method="POST"):
        with pytest.raises(NotFound), refusals(passes=(NotFound,)):
            raise NotFound("No invitation 7.")
        with refusals(quiet=True) as outcome:
            raise _quota()
        assert "_flashes" not in session
        assert outcome.status == 409 and "widgets" in outcome.message
        with refusals(quiet=True) as outcome:
            raise Invalid("Not valid.")
        assert (outcome.status, outcome.message) == (422, "Not valid.")


def test_a_page_without_wtforms_gets_field_errors_and_the_rest(app):
    from taiji.platform.web.console import FieldErrors

    with app.test_request_context("/", method="POST"):
        fields = FieldErrors("name", "scope")
        with refusals(fields):
            raise Invalid("Check.", errors={"json": {"scope": ["Unknown scopes: x."], "other": ["Bad."]}})
        assert fields.shown == {"scope": "Unknown scopes: x."}
        assert fields.form_errors == ["other: Bad."]


def test_a_refusal_naming_no_field_shows_at_the_top_of_the_page(client, login, admin):
    """The layout shows ``form.form_errors``: a refusal of a tenant's creation that concerns no field
    of the form is not lost."""
    from unittest import mock

    from taiji.modules.tm import services as tm

    login(admin)
    with mock.patch.object(tm, "create_tenant", side_effect=Conflict("Provisioning is paused.")):
        response = client.post("/admin/tenants", data={"slug": "paused", "name": "Paused"})
    assert response.status_code == 422
    shown = '<div class="alert alert-danger" role="alert" data-testid="form-error"><div>Provisioning is'
    assert shown in response.get_data(as_text=True)
