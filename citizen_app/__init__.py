"""The citizen service: the mini-program JSON API under /api/citizen/v1 and the H5 pages under /m/."""
from __future__ import annotations

from flask import Flask

from onecard.web.http import Api

PREFIX = "/api/citizen/v1"


def init_app(app: Flask) -> Api:
    app.config.update(
        CITIZEN_API_TITLE="泗水县社保卡一卡通 居民服务接口",
        CITIZEN_API_VERSION="v1",
        CITIZEN_OPENAPI_VERSION="3.0.3",
        CITIZEN_OPENAPI_URL_PREFIX=PREFIX,
        CITIZEN_OPENAPI_JSON_PATH="openapi.json",
    )
    api = Api(app, config_prefix="CITIZEN")
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    from citizen_app import api as citizen_api
    from citizen_app import assist_pages, pages  # noqa: F401 (assist_pages adds its routes to pages.bp)
    api.register_blueprint(citizen_api.bp)
    app.register_blueprint(pages.bp)
    app.extensions.setdefault("onecard.error_pages", {})["/m/"] = pages.http_error_page
    return api
