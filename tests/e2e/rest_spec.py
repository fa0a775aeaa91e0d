"""Xen Orchestra's REST API spec (@xen-orchestra/rest-api, OpenAPI 3.0) for the conformance
test: where scripts/install-deps.sh keeps it, its operations, and a JSON Schema validator of
response bodies built from its components (OpenAPI's `nullable` turned into JSON Schema).
Not a test itself.
"""
import json
import os
import re

import jsonschema

VERSION = "0.39.0"


def spec_path():
    """XO_REST_SPEC, or where scripts/install-deps.sh puts it."""
    if os.environ.get("XO_REST_SPEC"):
        return os.environ["XO_REST_SPEC"]
    cache = os.environ.get("XO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "xo-fleet")
    return os.path.join(cache, f"rest-api-{VERSION}", "swagger.json")


def load(path=None):
    path = path or spec_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing; run scripts/install-deps.sh (it fetches "
                                f"@xen-orchestra/rest-api@{VERSION} with npm pack) or set "
                                "XO_REST_SPEC")
    with open(path) as f:
        spec = json.load(f)
    if spec.get("info", {}).get("version") != VERSION:
        raise ValueError(f"{path}: version {spec.get('info', {}).get('version')}, "
                         f"expected {VERSION}")
    return spec


METHODS = ("get", "post", "put", "patch", "delete")


def operations(spec):
    """[(METHOD, path template)] of every operation, in the spec's order."""
    return [(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in METHODS]


def template_regex(template):
    """A regex matching concrete paths of a template ("/vms/{id}.{format}")."""
    out = ""
    for part in re.split(r"(\{[^}]+\})", template):
        out += "[^/]+?" if part.startswith("{") else re.escape(part)
    return re.compile("^" + out + "$")


def _convert(node):
    """OpenAPI 3.0 schema -> JSON Schema draft 4: nullable, refs to #/definitions."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "$ref":
            out[k] = v.replace("#/components/schemas/", "#/definitions/")
        elif k in ("example", "examples", "nullable", "format", "deprecated", "description"):
            continue
        else:
            out[k] = _convert(v)
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


class Validator:
    def __init__(self, spec):
        self.spec = spec
        self.definitions = {k: _convert(v) for k, v in spec["components"]["schemas"].items()}

    def operation(self, method, template):
        return self.spec["paths"][template][method.lower()]

    def statuses(self, method, template):
        return set(self.operation(method, template)["responses"])

    def schema(self, method, template, status):
        """The JSON body schema of a response (draft 4, self-contained), or None."""
        r = self.operation(method, template)["responses"].get(str(status), {})
        content = r.get("content", {}).get("application/json")
        if not content or "schema" not in content:
            return None
        s = _convert(content["schema"])
        s["definitions"] = self.definitions
        return s

    def errors(self, schema, instance, limit=5):
        """Up to `limit` messages of what does not validate ([] when valid)."""
        v = jsonschema.Draft4Validator(schema)
        out = []
        for e in sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            best = jsonschema.exceptions.best_match([e])
            where = "/".join(str(p) for p in best.absolute_path)
            out.append(f"{where or '(root)'}: {best.message[:200]}")
            if len(out) == limit:
                break
        return out

    def item_schema(self, schema):
        """For a SendObjects anyOf (hrefs | objects | ndjson | string): the object item."""
        root = schema
        while "$ref" in schema:
            schema = self.definitions[schema["$ref"].split("/")[-1]]
        for alt in schema.get("anyOf", []):
            items = alt.get("items")
            if items and "$ref" in items:
                return {"$ref": items["$ref"], "definitions": root["definitions"]}
        return None
