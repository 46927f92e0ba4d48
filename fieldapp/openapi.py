"""The OpenAPI 3 description of the phone's sync API, served at /api/openapi.json; the visit's
fields, limits and choices come from the visit form (visitform.py)."""
from fieldapp import registerform, rules
from fieldapp.data import photos as photo_data
from fieldapp.data import register
from fieldapp.visitform import (FIELDS, FOLLOWUP_ACTIONS, LISTS, MAX_BATCH, MAX_BODY, MAX_TEXT, NO_LOCATION_REASONS,
                                OLDEST, RANGES)

INT64 = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
ERROR = {"$ref": "#/components/schemas/Error"}
PHOTO_RESULT = {"$ref": "#/components/schemas/PhotoResult"}


def _json(schema, description):
    """A response with a JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _nullable(schema):
    """schema, or null (OpenAPI 3.1 style)."""
    return {"oneOf": [schema, {"type": "null"}]}


def _measured(name):
    """A number of the visit's position, within the range the visit form accepts, or null."""
    low, high = RANGES[name]
    return _nullable({"type": "number", "minimum": low, "maximum": high})


# Each field of a sync item, as the visit form reads it: a field added there without a schema here fails at import.
VISIT_FIELDS = {
    "uuid": {"type": "string", "format": "uuid"},
    "visited_at": {"type": "string", "format": "date-time",
                   "description": f"Device time; not in the future, at most {OLDEST.days} days ago."},
    "lat": _measured("lat"),
    "lon": _measured("lon"),
    "accuracy": _measured("accuracy"),
    "no_location_reason": _nullable({"type": "string", "enum": list(NO_LOCATION_REASONS)}),
    "outcome": {"type": "string", "enum": list(rules.OUTCOMES)},
    "notes": {"type": "string", "maxLength": MAX_TEXT},
    "residents_met": {"type": "array", "items": INT64},
    "new_requests": {"type": "array", "items": {"$ref": "#/components/schemas/NewRequest"}},
    "followups": {"type": "array", "items": {"$ref": "#/components/schemas/Followup"}},
}
_VALUE = _nullable({"oneOf": [{"type": "string", "maxLength": 200}, {"type": "integer"}]})

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What went wrong, in the reader's language."},
                       "signed_in": {"type": "boolean"}, "csrf": {"type": "boolean"}},
    },
    "Session": {
        "type": "object", "required": ["user", "csrf_token"],
        "properties": {
            "user": _nullable({"type": "object", "required": ["id", "username", "role"], "properties": {
                "id": {"type": "integer"}, "username": {"type": "string"},
                "role": {"type": "string", "enum": ["member", "leader", "admin"]}}}),
            "session": _nullable({"type": "string", "description": "An opaque name of this session; pages kept "
                                  "for another session (or when it is null) are deleted from the phone."}),
            "csrf_token": {"type": "string", "description": "Send it as X-CSRFToken with the next write."},
        },
    },
    "NewRequest": {
        "type": "object", "required": ["category", "description"],
        "properties": {"uuid": {"type": "string", "format": "uuid"},
                       "category": {"type": "string", "description": "A category code, e.g. medical."},
                       "description": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}},
    },
    "Followup": {
        "type": "object", "required": ["request_id", "action", "note"],
        "properties": {"request_id": {**INT64, "description": "An open or resolved request of this same household."},
                       "action": {"type": "string", "enum": list(FOLLOWUP_ACTIONS),
                                  "description": "progress or resolve an open request; confirm (satisfied) or "
                                                 "reopen (not satisfied) a resolved one at its return visit."},
                       "note": {"type": "string", "maxLength": MAX_TEXT,
                                "description": "What was done, the resolution, or what the resident is not "
                                               "satisfied with; it may stay empty only for confirm."}},
    },
    "Visit": {
        "type": "object", "required": ["uuid", "household_id", "outcome"],
        "description": "One visit as the phone recorded it. The uuid, made by the phone, makes a resend safe: "
                       "the same uuid with the same content is answered `existing`, with other content `conflict`.",
        "properties": {"household_id": INT64, **{name: VISIT_FIELDS[name] for name in FIELDS + LISTS},
                       "changes": {"type": "array", "maxItems": registerform.MAX_CHANGES,
                                   "items": {"$ref": "#/components/schemas/RegisterChange"},
                                   "description": "Register changes learnt at this door: recorded with the "
                                                  "visit (and only if it is saved), each answered in `changes`."}},
    },
    "Person": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": registerform.MAX_NAME},
                       "phone": _nullable({"type": "string", "description": "A Chinese mobile or landline."}),
                       "birth_year": _nullable({"type": "integer", "minimum": registerform.FIRST_BIRTH_YEAR}),
                       "relation": _nullable({"type": "string", "enum": list(registerform.RELATIONS)}),
                       "tags": {"type": "array", "items": {"type": "string"},
                                "description": "Tag codes, e.g. elderly_alone."}},
    },
    "RegisterChange": {
        "type": "object", "required": ["uuid", "kind", "reason"],
        "description": "One change of the register. `before` is the value the page showed (a phone number as it "
                       "was masked): when the server's value has changed since, the change is kept for the "
                       "leader's review and not applied (answered `conflict`; do not send it again).",
        "properties": {
            "uuid": {"type": "string", "format": "uuid"},
            "kind": {"type": "string", "enum": [k for k in register.KINDS if k != "household_added"]},
            "household_id": {**INT64, "description": "Inside a visit: the visited household (may be left out)."},
            "resident_id": {**INT64, "description": "The resident, for a resident's kinds."},
            "field": _nullable({"type": "string",
                                "enum": [*registerform.CORRECTABLE, "tag", "status", "occupancy", "retired"]}),
            "before": _VALUE, "after": _VALUE,
            "reason": {"type": "string", "minLength": 1, "maxLength": registerform.MAX_REASON},
            "made_at": {"type": "string", "format": "date-time",
                        "description": f"Device time; not in the future, at most {registerform.OLDEST.days} days ago."},
            "day": _nullable({"type": "string", "format": "date",
                              "description": "resident_left: the day they moved out or died."}),
            "moved_to": _nullable({"type": "string", "maxLength": registerform.MAX_PLACE}),
            "person": {"$ref": "#/components/schemas/Person"},
        },
    },
    "VisitBatch": {
        "type": "object", "required": ["visits"],
        "properties": {"visits": {"type": "array", "maxItems": MAX_BATCH,
                                  "items": {"$ref": "#/components/schemas/Visit"}},
                       "changes": {"type": "array", "maxItems": registerform.MAX_CHANGES,
                                   "items": {"$ref": "#/components/schemas/RegisterChange"},
                                   "description": "Register changes made on their own (no visit); `visits` "
                                                  "may then be empty."}},
    },
    "ChangeResult": {
        "type": "object", "required": ["status", "http_status"],
        "description": "What became of one register change.",
        "properties": {
            "uuid": {"description": "The uuid as sent."},
            "visit_uuid": {"description": "The visit it came with, if any."},
            "status": {"type": "string", "enum": ["created", "existing", "conflict", "rejected"]},
            "http_status": {"type": "integer", "enum": [200, 201, 202, 404, 409, 422],
                            "description": "201 created, 200 existing, 202 conflict (kept for the leader's review, "
                                           "not applied: drop it from the phone), 404/409/422 rejected."},
            "change_id": _nullable({"type": "integer"}),
            "household_id": _nullable({"type": "integer"}),
            "resident_id": _nullable({"type": "integer", "description": "resident_added: the new resident."}),
            "message": {"type": "string"},
            "errors": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Field -> message, in the reader's language."},
        },
    },
    "ItemResult": {
        "type": "object", "required": ["status", "http_status"],
        "description": "What became of one visit; each item stands alone.",
        "properties": {
            "uuid": {"description": "The uuid as sent."},
            "status": {"type": "string", "enum": ["created", "existing", "conflict", "rejected"]},
            "http_status": {"type": "integer", "enum": [200, 201, 404, 409, 422],
                            "description": "201 created, 200 existing, 409 conflict, 404/422 rejected."},
            "visit_id": {"type": "integer"},
            "url": {"type": "string", "description": "The visit on its household's page."},
            "errors": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Field -> message, in the reader's language."},
        },
    },
    "BatchResult": {
        "type": "object", "required": ["results"],
        "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/ItemResult"}},
                       "changes": {"type": "array", "items": {"$ref": "#/components/schemas/ChangeResult"},
                                   "description": "One result per register change sent (those in visits first), "
                                                  "when any were sent."}},
    },
    "PhotoUpload": {
        "type": "object", "required": ["record", "record_uuid", "sha256", "file"],
        "properties": {
            "record": {"type": "string", "enum": ["visit", "resolution"],
                       "description": "A visit form's photo, or one taken when a request was resolved."},
            "record_uuid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
                            "description": "The visit's uuid, or the resolution step's client id."},
            "request_id": {**INT64, "description": "The request (record=resolution only)."},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                       "description": "Of the file's bytes as sent: other bytes are refused, nothing kept."},
            "caption": {"type": "string", "maxLength": 200},
            "taken_at": {"type": "string", "format": "date-time", "description": "The phone's time, UTC."},
            "file": {"type": "string", "format": "binary",
                     "description": f"The image, at most {photo_data.MAX_BYTES // 1048576} MB; decoded by the "
                                    f"server, re-encoded without metadata."},
        },
    },
    "PhotoResult": {
        "type": "object", "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["created", "existing", "rejected", "retry"],
                       "description": "rejected: nothing kept, drop the photo; retry (422): it arrived damaged, "
                                      "send it again."},
            "id": {"type": "integer"},
            "attached": {"type": "boolean", "description": "False while the photo waits for its record (never "
                                                          "shown; deleted after a day if the record never comes)."},
            "errors": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Field -> message, in the reader's language."},
        },
    },
    "OfflineManifest": {
        "type": "object", "required": ["urls", "households", "token", "session", "generated_at"],
        "properties": {"urls": {"type": "array", "items": {"type": "string"}},
                       "households": {"type": "array", "items": {"type": "integer"},
                                      "description": "The households of this copy, as its audit entry names them."},
                       "token": {"type": "string", "description": "Send it as X-Offline-Copy with each page of the "
                                 "copy, within 15 minutes: those household pages are covered by the copy's one "
                                 "audit entry."},
                       "session": {"type": "string", "description": "The session the copy is kept for."},
                       "thumbnails": {"type": "array", "items": {"type": "string"},
                                      "description": "The thumbnails of the copy's households' photos, which "
                                                     "the copy may keep (marked X-Offline-Keep); never a full "
                                                     "photo."},
                       "generated_at": {"type": "string", "format": "date-time"}},
    },
}

PATHS = {
    "/api/session": {"get": {
        "operationId": "session", "summary": "Who is signed in, and a fresh CSRF token for the next write.",
        "security": [{}],
        "responses": {"200": _json({"$ref": "#/components/schemas/Session"}, "The session.")},
    }},
    "/api/visits": {"post": {
        "operationId": "syncVisits",
        "summary": f"Send up to {MAX_BATCH} visits and register changes; each is answered on its own.",
        "description": "Out-of-scope households and requests are refused per item (404), never confirmed.",
        "security": [{"session": [], "csrf": []}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/VisitBatch"}}}},
        "responses": {
            "200": _json({"$ref": "#/components/schemas/BatchResult"}, "One result per visit, in order."),
            "400": _json(ERROR, "Not a batch, or no valid CSRF token (`csrf: true`)."),
            "401": _json(ERROR, "Not signed in (`signed_in: false`): keep the visits and sign in again."),
            "413": _json(ERROR, f"More than {MAX_BATCH} visits or {registerform.MAX_CHANGES} changes, or a body "
                                f"over {MAX_BODY // (1024 * 1024)} MB."),
        },
    }},
    "/api/photos": {"post": {
        "operationId": "uploadPhoto",
        "summary": f"Send one photo of a visit or a resolution (at most {photo_data.MAX_PER_RECORD} per record), "
                   "after its record; a resend of the same bytes for the same record answers existing.",
        "description": "A photo sent before its record arrives waits (attached: false) and is attached when the "
                       "record comes. A record out of scope is refused (404), never confirmed.",
        "security": [{"session": [], "csrf": []}],
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": {"$ref": "#/components/schemas/PhotoUpload"}}}},
        "responses": {
            "201": _json(PHOTO_RESULT, "Created."),
            "200": _json(PHOTO_RESULT, "Existing: sent before."),
            "400": _json(ERROR, "No valid CSRF token (`csrf: true`), or a field holding a NUL character."),
            "401": _json(ERROR, "Not signed in."),
            "403": _json(PHOTO_RESULT, "Rejected: the visit is another member's."),
            "404": _json(PHOTO_RESULT, "Rejected: no such record among the user's."),
            "409": _json(PHOTO_RESULT, "Rejected: the record has its photos already."),
            "413": _json(PHOTO_RESULT, "Rejected: too large, or too many pixels."),
            "415": _json(PHOTO_RESULT, "Rejected: not an image."),
            "422": _json(PHOTO_RESULT, "Rejected: a field is missing or malformed, or the bytes are not those hashed."),
        },
    }},
    "/api/offline-manifest": {"get": {
        "operationId": "offlineManifest",
        "summary": "Start an offline copy (logged once): the pages a member keeps for work without signal.",
        "responses": {"200": _json({"$ref": "#/components/schemas/OfflineManifest"}, "The pages."),
                      "401": _json(ERROR, "Not signed in.")},
    }},
    "/api/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This description.", "security": [{}],
        "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
    }},
}


def document():
    """The OpenAPI 3.1 document of the sync API."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Zero Distance (零距离) sync API", "version": "1",
                 "description": "The phone's API: its session, the visit batch it sends when it has signal, its "
                                "photos, and the pages it keeps for offline work. Sign in through /auth/login; "
                                "writes carry the X-CSRFToken header from GET /api/session."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The session cookie set by signing in."},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken",
                         "description": "The token from GET /api/session, for writes."},
            },
        },
        "security": [{"session": []}],
    }
