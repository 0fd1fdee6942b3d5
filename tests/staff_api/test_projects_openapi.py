"""The OpenAPI document describes the catalogue, registry and contacts endpoints, file uploads included."""
from __future__ import annotations

import json

API = "/api/staff/v1"


def test_openapi_has_our_paths_and_multipart_uploads(client, db):
    r = client.get(f"{API}/openapi.json")
    assert r.status_code == 200
    doc = json.loads(r.data)
    paths = doc["paths"]
    for path in ("/projects", "/projects/{project_id}", "/projects/{project_id}/code", "/projects/{project_id}/retire",
                 "/projects/import", "/projects/export", "/projects/template", "/registry/imports",
                 "/registry/imports/{import_id}", "/registry/template", "/contacts", "/contacts/{contact_id}",
                 "/contacts/export", "/accounts"):
        assert API + path in paths, path
    for path in ("/projects/import", "/registry/imports"):
        body = paths[API + path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        name = body["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
        assert schema["properties"]["file"] == {"type": "string", "format": "binary",
                                                "description": schema["properties"]["file"]["description"]}
        assert schema["required"] == ["file"]
    project = doc["components"]["schemas"]["Project"]["properties"]
    assert {"code", "category", "name", "cycle", "level", "standard", "status"} <= set(project)
    report = doc["components"]["schemas"]["RegistryImport"]["properties"]
    assert {"new_residents", "new_cards", "status_change_detail", "account_changes", "unchanged", "errors"} <= set(report)
    xlsx = paths[API + "/projects/export"]["get"]["responses"]["200"]["content"]
    assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in xlsx
