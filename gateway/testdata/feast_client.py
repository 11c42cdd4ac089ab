"""A Feast client, standard library only, written from Feast's Python SDK
(v0.66/0.67) rather than from the gateway: it reads the gateway's
/get-online-features replies the way the SDK does and fails (exit 1) on
anything a Feast client would read differently from Feast's own server.

Usage: feast_client.py BASE_URL TOKEN (run by TestFeastPythonClient).

What it follows, quoted:

sdk/python/feast/online_response.py, OnlineResponse.to_dict: a dict keyed
by feature name, statuses ignored:
    for feature_ref, feature_vector in zip(self.proto.metadata.feature_names.val, self.proto.results):
        response[feature_ref] = [feast_value_type_to_python_type(v) for v in feature_vector.values]

sdk/python/feast/rest_error_handler.py, on a non-2xx reply:
    mapped_error = FeastError.from_error_detail(response.json())
    if mapped_error is not None:
        raise mapped_error

sdk/python/feast/errors.py, FeastError.from_error_detail:
    m = json.loads(detail)
    if all(f in m for f in ["module", "class", "message"]):
        ...
        class_reference = getattr(module, class_name)
        instance = class_reference.__new__(class_reference)
        setattr(instance, "__overridden_message__", message)
"""

import json
import sys
import urllib.error
import urllib.request
from datetime import datetime

BASE, TOKEN = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def post(body):
    req = urllib.request.Request(
        BASE + "/get-online-features",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def to_dict(reply):
    # OnlineResponse.to_dict over the JSON the feature server answers.
    return {name: result["values"] for name, result in zip(reply["metadata"]["feature_names"], reply["results"])}


class FeastErrorDetail(Exception):
    pass


def from_error_detail(detail):
    # FeastError.from_error_detail, minus the import of feast.errors: the
    # module and class it would load, and the message it would carry.
    try:
        m = json.loads(detail)
        if all(f in m for f in ["module", "class", "message"]):
            return (m["module"], m["class"], m["message"])
    except Exception:
        pass
    return None


# Reads: floats stay floats, missing entities are None (no default shown
# as data), too-old rows keep their value, timestamps parse.
status, reply = post({"features": ["mem:clicks", "mem:emb", "stats:rate"], "entities": {"user_id": ["u1", "u2", "u3"]}})
check(status == 200, f"read: {status} {reply}")
d = to_dict(reply)
check(d["user_id"] == ["u1", "u2", "u3"], f"user_id {d['user_id']}")
check(d["clicks"] == [7, 3, None], f"clicks {d['clicks']} (a default would show as data)")
check(d["emb"][0] == [1.0, -2.5] and all(type(x) is float for x in d["emb"][0]), f"emb {d['emb']}")
check(d["rate"][0] == 2.0 and type(d["rate"][0]) is float, f"rate {d['rate']} is not a float")
for r in reply["results"]:
    for ts in r["event_timestamps"]:
        datetime.fromisoformat(ts)

# int64 join keys given as strings: Feast's Python server converts them.
status, reply = post({"features": ["drv:conv_rate"], "entities": {"driver_id": ["1001"]}})
check(status == 200 and to_dict(reply)["conv_rate"] == [1.0], f"driver as string: {status} {reply}")

# Errors come back as the exception Feast's server raises.
for body, want_status, want_class in [
    ({"features": ["nope:x"], "entities": {"user_id": ["u1"]}}, 404, "FeatureViewNotFoundException"),
    ({"feature_service": "nope", "entities": {"user_id": ["u1"]}}, 404, "FeatureServiceNotFoundException"),
    ({"features": ["mem:clicks", "stats:clicks"], "entities": {"user_id": ["u1"]}}, 500, "FeatureNameCollisionError"),
]:
    status, reply = post(body)
    err = from_error_detail(reply) if isinstance(reply, str) else None
    check(status == want_status and err is not None and err[:2] == ("feast.errors", want_class),
          f"{body}: {status} {reply!r}, want {want_status} {want_class}")

# Request validation: FastAPI's 422 shape.
status, reply = post({"features": ["mem:clicks"]})
check(status == 422 and isinstance(reply.get("detail"), list) and reply["detail"][0]["loc"] == ["body", "entities"],
      f"validation: {status} {reply}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("feast client: all checks passed")
