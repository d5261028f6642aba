"""`response.format: json`: the Spark type of the `json` column, derived from the job's JSON Schema.

Mirrors the mapping of src/response/schema.ts (the CLI checks the supported subset and rejects
the rest with reasons at validate time; test/fixtures/json-schemas.json keeps both sides in step):
object with properties → struct, object with only `additionalProperties: {schema}` →
map<string,T>, array → array<T>, string (and string enums) → string, integer → bigint (long),
number → double, boolean → boolean; `null` in a type list, enum or anyOf only makes a field
nullable; integer together with number widens to double.

The worker writes `json` as a JSON string; `typed_json` parses it with from_json. Every field
is nullable (from_json makes them so, and rows with an error have no json at all).
"""

from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkinfer.errors import SpecError

_SCALARS = {'string': T.StringType(), 'integer': T.LongType(), 'number': T.DoubleType(), 'boolean': T.BooleanType()}


def _resolve(root, ref):
    if ref == '#':
        return root
    if not ref.startswith('#/'):
        raise SpecError(f'response.schema: only local references (#/$defs/Name) are supported, got {ref!r}')
    cur = root
    for raw in ref[2:].split('/'):
        seg = raw.replace('~1', '/').replace('~0', '~')
        if isinstance(cur, list) and seg.isdigit():
            cur = cur[int(seg)] if int(seg) < len(cur) else None
        elif isinstance(cur, dict) and seg in cur:
            cur = cur[seg]
        else:
            cur = None
        if cur is None:
            raise SpecError(f'response.schema: $ref {ref!r} does not point into the schema')
    return cur


def _kind(v):
    if v is None:
        return 'null'
    if isinstance(v, bool):
        return 'boolean'
    if isinstance(v, int):
        return 'integer'
    if isinstance(v, float):
        return 'integer' if v.is_integer() else 'number'
    if isinstance(v, str):
        return 'string'
    return 'array' if isinstance(v, list) else 'object'


class _Walker:
    def __init__(self, root):
        self.root = root
        self.stack = ['#']

    def node(self, s, path):
        """Spark type of a schema node, or None when it only allows null."""
        if not isinstance(s, dict):
            raise SpecError(f'response.schema at {path}: expected a schema object')
        if isinstance(s.get('$ref'), str):
            ref = s['$ref']
            if ref in self.stack:
                raise SpecError(f'response.schema at {path}: recursive $ref {ref!r} has no Spark type')
            self.stack.append(ref)
            try:
                return self.node(_resolve(self.root, ref), path)
            finally:
                self.stack.pop()
        for key in ('anyOf', 'oneOf'):
            if isinstance(s.get(key), list):
                return self.union(s[key], f'{path}.{key}')
        types = self.types(s, path)
        non_null = [t for t in types if t != 'null']
        if not non_null:
            return None
        if len(non_null) > 1:
            if all(t in ('integer', 'number') for t in non_null):
                return T.DoubleType()
            raise SpecError(f'response.schema at {path}: a field has one Spark type, got {" or ".join(non_null)}')
        t = non_null[0]
        if t in _SCALARS:
            return _SCALARS[t]
        if t == 'array':
            items = s.get('items')
            if not isinstance(items, dict):
                raise SpecError(f'response.schema at {path}: an array needs one `items` schema')
            el = self.node(items, f'{path}.items')
            if el is None:
                raise SpecError(f'response.schema at {path}.items: an array of nulls has no Spark type')
            return T.ArrayType(el, True)
        return self.object(s, path)

    def types(self, s, path):
        declared = s.get('type')
        if declared is not None:
            return list(declared) if isinstance(declared, list) else [declared]
        values = s['enum'] if isinstance(s.get('enum'), list) else [s['const']] if 'const' in s else None
        if values is not None:
            kinds = {_kind(v) for v in values}
            if 'integer' in kinds and 'number' in kinds:
                kinds.discard('integer')
            return sorted(kinds)
        if any(k in s for k in ('properties', 'additionalProperties', 'required')):
            return ['object']
        if 'items' in s:
            return ['array']
        raise SpecError(f'response.schema at {path}: a schema without `type` has no Spark type')

    def object(self, s, path):
        props = s.get('properties') or {}
        addl = s.get('additionalProperties')
        if not props:
            if isinstance(addl, dict):
                val = self.node(addl, f'{path}.additionalProperties')
                if val is None:
                    raise SpecError(f'response.schema at {path}: a map of nulls has no Spark type')
                return T.MapType(T.StringType(), val, True)
            raise SpecError(f'response.schema at {path}: an object needs `properties` or `additionalProperties: {{schema}}`')
        fields = []
        for name, sub in props.items():
            t = self.node(sub, f'{path}.properties.{name}')
            if t is None:
                raise SpecError(f'response.schema at {path}.properties.{name}: a field that can only be null has no Spark type')
            fields.append(T.StructField(name, t, True))
        return T.StructType(fields)

    def union(self, branches, path):
        types = [t for t in (self.node(b, f'{path}.{i}') for i, b in enumerate(branches)) if t is not None]
        if not types:
            return None
        if all(isinstance(t, (T.LongType, T.DoubleType)) for t in types):
            return T.DoubleType() if any(isinstance(t, T.DoubleType) for t in types) or len(types) > 1 else types[0]
        first = types[0]
        for t in types[1:]:
            if t.simpleString() != first.simpleString():
                raise SpecError(
                    f'response.schema at {path}: branches have different Spark types ({first.simpleString()} vs {t.simpleString()})'
                )
        return first


def json_struct(schema):
    """The `json` column's StructType for a response schema. Raises SpecError for what has no Spark type."""
    t = _Walker(schema).node(schema, '(top level)') if isinstance(schema, dict) else None
    if not isinstance(t, T.StructType):
        raise SpecError('response.schema: the top level must be an object with `properties` (the json column is a struct)')
    return t


def json_type(job):
    """The `json` column type: a struct for `response.format: json`, else a string (always null)."""
    resp = job.get('response') or {}
    if resp.get('format') == 'json' and isinstance(resp.get('schema'), dict):
        return json_struct(resp['schema'])
    return T.StringType()


def typed_json(column, job):
    """The worker's `json` string → the typed column (PERMISSIVE: a value Spark can't parse becomes null;
    the worker validated it first and the raw `text` is always kept)."""
    t = json_type(job)
    return F.from_json(column, t) if isinstance(t, T.StructType) else column
