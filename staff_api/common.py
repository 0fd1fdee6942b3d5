"""What every staff view shares: who is calling, and the standard error schema."""
from __future__ import annotations

import functools

from flask import request
from marshmallow import Schema, fields

from onecard.actors import Actor
from onecard.staff import service as staff_service
from onecard.web import client_ip, request_token


def current_actor(channel: str = "api") -> Actor:
    """The signed-in staff member, or a 401 DomainError."""
    # Cached per request (not on g: an app context can outlive one request, as in tests).
    actor = request.environ.get("onecard.staff_actor")
    if actor is None:
        actor = staff_service.authenticate(request_token(), ip=client_ip(), channel=channel)
        request.environ["onecard.staff_actor"] = actor
    return actor


def signed_in(view):
    """Authenticate before the arguments are read (place it right under the route): a request without a valid
    token is 401 whatever its body, never a 422 that tells an anonymous caller about the body."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        current_actor()
        return view(*args, **kwargs)
    return checked


class ErrorBody(Schema):
    code = fields.String()
    message = fields.String()
    field = fields.String(allow_none=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody)


SECURITY = [{"bearer": []}]
