"""The staff API under /api/staff/v1, documented at /api/staff/v1/openapi.json.

One module per domain; each is a flask-smorest Blueprint registered here.
"""
from __future__ import annotations

from flask import Flask

from onecard.web.http import Api

PREFIX = "/api/staff/v1"


def init_app(app: Flask) -> Api:
    app.config.update(
        STAFF_API_TITLE="泗水县社保卡一卡通平台 工作人员接口",
        STAFF_API_VERSION="v1",
        STAFF_OPENAPI_VERSION="3.0.3",
        STAFF_OPENAPI_URL_PREFIX=PREFIX,
        STAFF_OPENAPI_JSON_PATH="openapi.json",
    )
    api = Api(app, config_prefix="STAFF", spec_kwargs={"info": {"description": "惠民惠农财政补贴“一卡通”发放：工作人员接口"}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    from staff_api import (
        alerts,
        assist,
        auth,
        card_applications,
        complaints,
        contacts,
        exclusions,
        lists,
        notices,
        oversight,
        owed_payments,
        payments,
        people,
        projects,
        reference,
        registry,
    )
    for module in (auth, reference, people, projects, registry, contacts, lists, payments, notices, oversight, card_applications,
                   complaints, assist, owed_payments, exclusions, alerts):
        api.register_blueprint(module.bp)
    app.register_blueprint(oversight.public_bp)   # 公示 pages: public, no login
    return api
