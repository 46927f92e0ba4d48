"""The visit form's photo field, as the phone's scripts find it (static/js/visit-form.js, photos.js)."""
import html
import json
import re

from fieldapp.data import photos
from tests import factories


def test_the_visit_form_offers_the_camera_for_as_many_photos_as_the_server_takes(auth, client, db):
    cell = factories.make_cell(db, factories.make_grid(db))
    factories.assign(db, cell, factories.make_user(db, "member", "m1"))
    household = factories.make_household(db, cell, None, address="龙坞村 37号")
    auth.login("m1")
    page = client.get(f"/households/{household}/visits/new?lang=en").get_data(as_text=True)
    field = re.search(r'<fieldset class="photos" id="photos" hidden data-max="(\d+)" data-texts=\'([^\']*)\'>(.*?)'
                      r'</fieldset>', page, re.S)
    assert field, "the photo field, hidden until the script can keep photos"
    assert int(field.group(1)) == photos.MAX_PER_RECORD
    label = re.search(r'<label class="button photo-add"><span aria-hidden="true">📷</span> ([^<]+)\s*<input ([^>]+)>',
                      field.group(3))
    assert label.group(1).strip() == "Add photo"
    assert 'type="file"' in label.group(2) and 'accept="image/*"' in label.group(2)
    assert 'capture="environment"' in label.group(2) and "multiple" in label.group(2)
    texts = json.loads(html.unescape(field.group(2)))
    assert texts["tooMany"] == f"At most {photos.MAX_PER_RECORD} photos per visit."
    assert "cannot be read on this phone" in texts["unreadable"]
    zh = client.get(f"/households/{household}/visits/new?lang=zh").get_data(as_text=True)
    assert "添加照片" in zh and "说明（可选）" in zh
