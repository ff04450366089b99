"""Who may see the dashboard: OIDC through ``st.login`` when Streamlit's secrets configure
it, else FINSENT_DASHBOARD_PASSWORD when set, else everyone who can reach the port (the
default host is 127.0.0.1 for that reason; see the README)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from importlib.util import find_spec
from typing import Any

import streamlit as st

from dashboard.common import settings, show_stop

_AUTHENTICATED = "_finsent_password_ok"


def _oidc_providers() -> list[str] | None:
    """The providers of Streamlit's ``[auth]`` secrets section ([] for the unnamed
    default), or None when OIDC is not configured."""
    try:
        auth: Any = st.secrets.get("auth")
    except Exception:  # no secrets file at all (Streamlit raises its own error type)
        return None
    if not isinstance(auth, Mapping):
        return None
    return [name for name, value in auth.items() if isinstance(value, Mapping)]


def _user_name() -> str | None:
    for claim in ("email", "name", "sub"):
        value = st.user.get(claim)
        if value:
            return str(value)
    return None


def require_login() -> str | None:
    """Stop the run unless the visitor may see the dashboard; returns who they are
    (the OIDC e-mail or name, recorded with their corrections) or None."""
    providers = _oidc_providers()
    if providers is not None:
        if st.user.is_logged_in:
            return _user_name()
        st.title("finsent")
        if find_spec("authlib") is None:
            # Fail closed: OIDC is configured, so no data is shown without it.
            show_stop(
                "OIDC is configured in Streamlit's secrets, but Authlib is not installed: "
                "pip install 'Authlib>=1.3.2'"
            )
        st.write("Sign in to see the dashboard.")
        for provider in providers or [None]:
            label = "Sign in" if provider is None else f"Sign in with {provider}"
            st.button(label, on_click=st.login, args=() if provider is None else (provider,))
        st.stop()
    password = settings().dashboard_password
    if password is None or st.session_state.get(_AUTHENTICATED):
        return None
    st.title("finsent")
    with st.form("finsent_login"):
        typed = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Open the dashboard")
    if submitted:
        # compare_digest: the time taken does not tell how much of the password matched.
        if hmac.compare_digest(typed.encode(), password.get_secret_value().encode()):
            st.session_state[_AUTHENTICATED] = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()
    return None
