"""Dashboard sign-in pages (log in, log out, sign up when SIGNUP_ENABLED) and the operator-only gate."""

from collections.abc import Callable
from functools import wraps
from inspect import iscoroutinefunction
from typing import Any, TypeVar, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, UserCreationForm
from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from cameras.models import CameraGroup

from . import services, twofactor
from .api import LoginRateThrottle
from .models import User
from .permissions import (
    PENDING_MESSAGE,
    SETUP_2FA_MESSAGE,
    is_approved,
    is_operator,
    needs_2fa_setup,
)
from .requests import AuthenticatedHttpRequest

_View = TypeVar("_View", bound=Callable[..., Any])


def approved_required(*, page: bool = True) -> Callable[[_View], _View]:
    """Anonymous users go to the login page. An account waiting for approval is shown its
    waiting page (page=True) or refused with 403 (page=False: video, snapshots, tokens, JSON).
    For sync and async views alike."""

    def refusal(request: HttpRequest, user: object) -> HttpResponse | None:
        if not getattr(user, "is_authenticated", False):
            return redirect_to_login(request.get_full_path())
        if is_approved(user):
            return None
        if page:
            return redirect("waiting")
        raise PermissionDenied(PENDING_MESSAGE)

    def decorate(view: _View) -> _View:
        if iscoroutinefunction(view):

            @wraps(view)
            async def guarded_async(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refused = refusal(request, await request.auser())
                return refused if refused is not None else await view(request, *args, **kwargs)

            return cast(_View, guarded_async)

        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = refusal(request, request.user)
            return refused if refused is not None else view(request, *args, **kwargs)

        return cast(_View, guarded)

    return decorate


def waiting(request: HttpRequest) -> HttpResponse:
    """Where a pending account lands: what it waits for."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if is_approved(request.user):
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/waiting.html")


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; logged-in viewers get 403."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_operator(request.user):
            raise PermissionDenied("Only operators may manage cameras.")
        if needs_2fa_setup(request.user):
            messages.warning(request, SETUP_2FA_MESSAGE)
            return redirect("two-factor")
        return view(request, *args, **kwargs)

    return guarded


class SkylarkLoginView(LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(signup_enabled=settings.SIGNUP_ENABLED, **kwargs)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # The same per-address budget as the API login: guessing through the form gets 429 too.
        # A DRF throttle outside DRF: it reads only the request's META (the client address).
        if not LoginRateThrottle().allow_request(request, self):  # type: ignore[arg-type]
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None, "Too many login attempts from your address; wait a minute and try again."
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if not user.has_2fa:
            return super().form_valid(form)
        # The password was right; the session holds who, until the code is given.
        self.request.session[_CODE_FOR] = user.pk
        self.request.session[_CODE_NEXT] = self.get_success_url()
        return redirect("login-code")


_CODE_FOR = "login_code_for"  # session keys of the login's second step
_CODE_NEXT = "login_code_next"


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def login_code(request: HttpRequest) -> HttpResponse:
    """The login's second step, for accounts with two-factor: the 6-digit code."""
    user_id = request.session.get(_CODE_FOR)
    user = User.objects.filter(pk=user_id).first() if isinstance(user_id, int) else None
    if user is None:
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not LoginRateThrottle().allow_request(request, None):  # type: ignore[arg-type]
            form.add_error(None, "Too many attempts from your address; wait a minute.")
            return render(request, "accounts/login_code.html", {"form": form}, status=429)
        if twofactor.verify(user, form.cleaned_data["code"]):
            next_url = request.session.get(_CODE_NEXT) or settings.LOGIN_REDIRECT_URL
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(next_url)
        form.add_error("code", "That code is not right (or was used already); try the next one.")
    return render(request, "accounts/login_code.html", {"form": form})


class SkylarkLogoutView(LogoutView):
    pass


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is disabled on this server.")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.sign_up(
                username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                form.add_error(field if field in form.fields else "password1", messages)
        else:
            login(request, user)
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/signup.html", {"form": form})


@operator_required
def pending_accounts(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Operators let sign-ups in (as viewers or operators) or turn them away."""
    if request.method == "POST":
        user = get_object_or_404(services.pending_users(), pk=request.POST.get("user"))
        if request.POST.get("action") == "reject":
            services.reject_user(user, by=request.user)
            messages.success(request, f"Account “{user.username}” rejected and deleted.")
        else:
            role: services.Role = "operator" if request.POST.get("role") == "operator" else "viewer"
            groups = None
            if request.POST.get("cameras") == "groups":
                groups = list(CameraGroup.objects.filter(pk__in=request.POST.getlist("groups")))
            services.approve_user(user, role=role, by=request.user, groups=groups)
            messages.success(request, f"Account “{user.username}” approved as {role}.")
        return redirect("pending-accounts")
    return render(
        request,
        "accounts/pending.html",
        {"pending": services.pending_users(), "groups": CameraGroup.objects.all()},
    )


@login_required  # pending accounts too
def change_password(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Any account changes its own password here; its other sessions and every token it was
    given stop working, this session goes on."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.change_password(request.user, form.cleaned_data["new_password1"])
        update_session_auth_hash(request, user)
        messages.success(
            request, "Password changed. Your other sessions and API tokens are signed out."
        )
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/password.html", {"form": form})


@login_required
def two_factor(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Set up two-factor (a QR code to scan, then a code to confirm it), or turn it off."""
    user = request.user
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if user.has_2fa and twofactor.verify(user, code):
            twofactor.disable(user)
            messages.success(request, "Two-factor authentication is off.")
            return redirect("two-factor")
        if not user.has_2fa and twofactor.confirm(user, code):
            messages.success(request, "Two-factor authentication is on.")
            return redirect(settings.LOGIN_REDIRECT_URL)
        form.add_error("code", "That code is not right (or was used already); try the next one.")
    context: dict[str, object] = {"form": form, "enabled": user.has_2fa}
    if not user.has_2fa:
        if not user.totp_secret:
            twofactor.new_secret(user)
        context |= {"secret": user.totp_secret, "qr_svg": twofactor.setup_qr_svg(user)}
    return render(request, "accounts/two_factor.html", context)
