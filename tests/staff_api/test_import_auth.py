"""Master-data imports authenticate before they read the upload: an anonymous caller learns nothing about it."""
from onecard.people.kinds import KINDS


def test_an_import_without_a_token_is_401_before_the_upload_is_read(client):
    for key in (k.key for k in KINDS):
        r = client.post(f"/api/staff/v1/{key}/import")
        assert r.status_code == 401, (key, r.json)
        assert r.json["error"]["code"] == "login_required"
