"""Dashboard sign-in pages (log in, log out, sign up when SIGNUP_ENABLED) and the operator-only gate."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from . import services
from .api import LoginRateThrottle
from .models import User
from .permissions import is_operator


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; logged-in viewers get 403."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_operator(request.user):
            raise PermissionDenied("Only operators may manage cameras.")
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
