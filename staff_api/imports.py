"""The staff API's two routes per master-data import kind (``onecard.people.kinds``), generated from the record:
``POST /<key>/import`` (multipart ``file``; 201 with the kind's counts, or one 422 listing every bad row)
and ``GET /<key>/template`` (the blank xlsx). The import service checks the permission itself.
"""
from __future__ import annotations

from marshmallow import Schema, fields

from onecard.imports import ImportKind
from onecard.web import send_xlsx
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor, signed_in
from staff_api.projects import XLSX_RESPONSE, FileSchema

SHEET_422 = "文件有错：error.details.errors 列出每个错误的行、列、值（脱敏）和原因；未导入任何数据"


class ImportDepartmentQuery(Schema):
    department_id = fields.Integer(metadata={"description": "认定部门；部门经办省略（本部门）"})


def add_import_routes(bp: Blueprint, kind: ImportKind) -> None:
    def upload(*args):
        *query, files = args       # flask-smorest passes the query (by-department kinds) before the files
        options = {"department_id": query[0].get("department_id")} if query else {}
        file = files["file"]
        return kind.run(current_actor(), file.stream, file.filename or "", **options)

    def template():
        current_actor()            # any signed-in staff member may see a blank form
        return send_xlsx(kind.template(), kind.template_filename)

    # flask-smorest reads the summary and description from the docstring when the route is added
    upload.__doc__ = f"导入{kind.title}（xlsx 或 csv）：逐行校验，全部正确才导入。\n\n{kind.hint}".strip()
    template.__doc__ = f"{kind.title}导入模板。"

    view = bp.doc(security=SECURITY)(upload)
    view = bp.alt_response(422, description=SHEET_422)(view)
    view = bp.response(201, kind.counts)(view)
    view = bp.arguments(FileSchema, location="files")(view)
    if kind.by_department:
        view = bp.arguments(ImportDepartmentQuery, location="query")(view)
    view = signed_in(view)     # a caller without a valid token is 401 whatever the upload holds
    bp.route(f"/{kind.key}/import", methods=["POST"], endpoint=f"import_{kind.key}")(view)
    bp.route(f"/{kind.key}/template", methods=["GET"], endpoint=f"{kind.key}_template")(
        bp.doc(security=SECURITY, responses=XLSX_RESPONSE)(template))
