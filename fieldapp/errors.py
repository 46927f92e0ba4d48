"""Error pages in the reader's language, and the expired-form page that keeps what was typed."""
from flask import current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from fieldapp import i18n, security
from fieldapp.data import postgres


def init_app(app):
    """Register the error handlers on app."""
    app.register_error_handler(403, lambda e: _error_page(403, _("You may not open this page.")))
    app.register_error_handler(404, lambda e: _error_page(404, _("This page does not exist.")))
    app.register_error_handler(
        413, lambda e: _error_page(413, _("The upload is too large: at most %(mb)d MB.",
                                          mb=app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024))))
    app.register_error_handler(500, lambda e: _error_page(500, _("Something went wrong on our side. "
                                                                 "Nothing you sent was half-saved; "
                                                                 "please try again.")))
    app.register_error_handler(CSRFError, expired_form)
    for unavailable in (postgres.OperationalError, postgres.Unreachable):
        app.register_error_handler(unavailable, database_unavailable)


def _error_page(code, message):
    """Render the error page for code with message."""
    return render_template("errors/error.html", code=code, message=message), code


def database_unavailable(error):
    """PostgreSQL failed the request (the connection lost, the server restarting or out of reach): 503, try again.

    The error page shows who is signed in. When the connection was lost before that was read, asking again fails at
    once and a bare page says the same; a pool that gave no connection would make the page wait as long again, so
    the bare page comes at once.
    """
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    current_app.logger.warning("Database unavailable for %s %s: %s", request.method, request.path, reason)
    message = _("The database cannot be reached just now. Nothing you sent was half-saved; "
                "please try again in a moment.")
    if isinstance(error, postgres.OperationalError) or request.path.startswith("/api/"):
        try:
            return security.refusal(503, message)
        except (postgres.OperationalError, postgres.Unreachable):
            pass
    # Rendered without the app's template context (who is signed in, the navigation), which needs the database.
    page = current_app.jinja_env.get_template("errors/unavailable.html").render(
        lang=i18n.select_locale(), title=_("Zero Distance"), message=message, back=_("Back to the start page"))
    return page, 503


def expired_form(error):
    """A form came without a valid CSRF token: say so, and keep what was typed for a resend."""
    message = _("This form has expired or was opened in another session. "
                "Your input is kept: check it and send it again.")
    if request.blueprint == "api":
        return jsonify({"error": message, "csrf": True}), 400
    if request.endpoint == "auth.login":
        return render_template("auth/login.html", error=message,
                               username=request.form.get("username", "")), 400
    if not security.may_offer_resend():
        return render_template("errors/expired_form.html", kept=None, action=None, message=_(
            "This form was not sent: it did not come from a page of this app in your current session. "
            "Nothing was changed. Open the page again and fill it in."), landing=url_for("index")), 400
    # Everything but passwords and the stale token goes back into a form to resend.
    kept = [(key, value) for key, value in request.form.items(multi=True)
            if key != "csrf_token" and "password" not in key]
    return render_template("errors/expired_form.html", message=message, kept=kept,
                           action=request.path), 400
