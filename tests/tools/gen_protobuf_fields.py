#!/usr/bin/env python3
"""Generates src/api/protobuf/fields.rs, the field table of ferrokube's Kubernetes protobuf decoder.

What it reads: git copies of the upstream repositories kubernetes/api, kubernetes/apimachinery,
kubernetes/apiextensions-apiserver and kubernetes/kube-aggregator, at a given tag (bare or not; the files are
read with `git show`, so no checkout is needed). In each package that has a `generated.proto` it takes:
  - from generated.proto: every message, and each field's number, proto type and repeated/map form;
  - from the package's Go sources: the struct of the same name, and for each field (matched on the number in
    its `protobuf:"…"` tag) its JSON name and options (`omitempty`, `omitzero`, inline) and whether the Go
    type is a value, a pointer, a slice or a map — the facts that decide what JSON the API server's Go
    encoder writes for the decoded struct;
  - from register.go's GroupName (or doc.go's `+groupName=` marker): the package's apiVersion.
Only these facts are written out, as Rust data; no upstream code or text is copied.

Re-run (the tags are the newest 1.37 tags available when the table was last generated):
  python3 tests/tools/gen_protobuf_fields.py \
      --repo /path/to/kubernetes/api@v0.37.0-beta.0 \
      --repo /path/to/kubernetes/apimachinery@v0.37.0-beta.0 \
      --repo /path/to/kubernetes/apiextensions-apiserver@v0.37.0-beta.0 \
      --repo /path/to/kubernetes/kube-aggregator@v0.37.0-alpha.2 \
      > src/api/protobuf/fields.rs
(needs git and rustfmt on PATH; the output is already formatted.)
"""

import argparse
import os
import re
import subprocess
import sys

SCALARS = {"bool": "Bool", "int32": "Int32", "int64": "Int64", "double": "Double", "string": "String", "bytes": "Bytes"}

# Messages whose Go type has its own JSON form (a MarshalJSON method); the decoder renders each shape by hand.
SPECIAL_SHAPES = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawJson",
}
for _v in ("v1", "v1beta1"):
    _p = f"k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.{_v}."
    SPECIAL_SHAPES[_p + "JSON"] = "RawJson"
    SPECIAL_SHAPES[_p + "JSONSchemaPropsOrArray"] = "SchemaOrArray"
    SPECIAL_SHAPES[_p + "JSONSchemaPropsOrBool"] = "SchemaOrBool"
    SPECIAL_SHAPES[_p + "JSONSchemaPropsOrStringArray"] = "SchemaOrStringArray"

# Proto package prefixes dropped to name the Rust statics (k8s.io.api.apps.v1.Deployment -> APPS_V1_DEPLOYMENT).
ALIAS_PREFIXES = [
    "k8s.io.api.",
    "k8s.io.apimachinery.pkg.apis.",
    "k8s.io.apimachinery.pkg.",
    "k8s.io.apiextensions_apiserver.pkg.apis.",
    "k8s.io.kube_aggregator.pkg.apis.",
]


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def parse_proto(text):
    package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    messages = {}
    current = None
    for line in text.splitlines():
        line = line.split("//")[0].strip()
        if not line:
            continue
        m = re.match(r"message (\w+) \{$", line)
        if m:
            current = messages.setdefault(m.group(1), [])
            continue
        if line == "}":
            current = None
            continue
        m = re.match(r"(optional|repeated) ([\w.]+) (\w+) = (\d+);$", line)
        if m:
            current.append({"label": m.group(1), "type": m.group(2), "name": m.group(3), "tag": int(m.group(4))})
            continue
        m = re.match(r"map<(\w+), ?([\w.]+)> (\w+) = (\d+);$", line)
        if m:
            assert m.group(1) == "string", line
            current.append({"label": "map", "type": m.group(2), "name": m.group(3), "tag": int(m.group(4))})
            continue
        if current is not None:
            sys.exit(f"{package}: unparsed proto line: {line}")
    return package, messages


def parse_go(sources):
    """Struct fields, named slice types and types defined as another package's struct, of one Go package."""
    structs, slices, defined = {}, set(), {}
    custom_json = set()
    for text in sources:
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        custom_json.update(re.findall(r"^func \(\w+ \*?(\w+)\) MarshalJSON\(", text, re.M))
        imports = {}
        for alias, path in re.findall(r'^\s*(?:(\w+) )?"(k8s\.io/[\w./-]+)"$', text, re.M):
            imports[alias or path.rsplit("/", 1)[1]] = path
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            if re.match(r"type (\w+) struct\s*\{\}$", lines[i]):
                structs[lines[i].split()[1]] = []
            m = re.match(r"type (\w+) struct \{$", lines[i])
            s = re.match(r"type (\w+) \[\]\S+$", lines[i])
            d = re.match(r"type (\w+) (\w+)\.(\w+)$", lines[i])
            if s:
                slices.add(s.group(1))
            if d and d.group(2) in imports:
                defined[d.group(1)] = (imports[d.group(2)], d.group(3))
            if not m:
                i += 1
                continue
            fields = []
            i += 1
            # Structs that are not proto messages may use forms this parser does not read; those are dropped
            # (None), and only a message's struct that cannot be read stops the run.
            while lines[i] != "}":
                line = re.sub(r"(`[^`]*`)\s*//.*$", r"\1", lines[i].strip())
                i += 1
                if not line or line.startswith("//"):
                    continue
                f = re.match(r"(\w+)\s+([^\s`]+)\s*(`[^`]*`)?$", line) or re.match(r"()([\w.*]+)\s*(`[^`]*`)?$", line)
                if not f:
                    fields = None
                    continue
                tags = f.group(3) or ""
                proto = re.search(r'protobuf:"([^"]*)"', tags)
                js = re.search(r'json:"([^"]*)"', tags)
                if fields is not None:
                    fields.append({
                        "embedded": f.group(1) == "",
                        "goname": f.group(1) or f.group(2).lstrip("*").split(".")[-1],
                        "gotype": f.group(2),
                        "proto": proto.group(1).split(",") if proto else None,
                        "json": js.group(1).split(",") if js else None,
                    })
            structs[m.group(1)] = fields
    return structs, slices, defined, custom_json


def screaming(name):
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.upper()


def ident(full):
    package, name = full.rsplit(".", 1)
    for prefix in ALIAS_PREFIXES:
        if package.startswith(prefix):
            package = package[len(prefix):]
            break
    return package.replace(".", "_").upper() + "_" + screaming(name)


def load(repos):
    messages = {}  # full proto name -> dict
    group_versions = {}  # apiVersion -> proto package
    sources = []
    packages = {}  # Go import path -> parse_go's (structs, slices, defined, custom_json)
    for spec in repos:
        path, ref = spec.rsplit("@", 1)
        files = git(path, "ls-tree", "-r", "--name-only", ref).splitlines()
        module = re.search(r"^module (\S+)$", git(path, "show", f"{ref}:go.mod"), re.M).group(1)
        sources.append((module.split("/", 1)[1], ref))
        for proto_path in files:
            if not proto_path.endswith("generated.proto") or "testapigroup" in proto_path or "testdata" in proto_path:
                continue
            directory = proto_path.rsplit("/", 1)[0]
            package, proto_messages = parse_proto(git(path, "show", f"{ref}:{proto_path}"))
            go_files = [
                f for f in files
                if f.rsplit("/", 1)[0] == directory and f.endswith(".go")
                and not f.endswith("_test.go") and not f.rsplit("/", 1)[1].startswith(("generated.pb", "zz_generated"))
            ]
            go_sources = [git(path, "show", f"{ref}:{f}") for f in go_files]
            import_path = f"{module}/{directory}"
            packages[import_path] = parse_go(go_sources)
            text = "\n".join(go_sources)
            group = re.search(r'^const GroupName = "([^"]*)"$', text, re.M) or re.search(r"^// \+groupName=(\S*)$", text, re.M)
            if group and not package.endswith(("runtime", "schema", "resource", "intstr")):
                version = package.rsplit(".", 1)[1]
                group_versions[f"{group.group(1)}/{version}" if group.group(1) else version] = package
            for name, proto_fields in proto_messages.items():
                messages[f"{package}.{name}"] = {
                    "package": package, "name": name, "proto_fields": proto_fields, "import_path": import_path,
                }
    any_custom_json = set().union(*(package[3] for package in packages.values()))
    for full, msg in messages.items():
        import_path, name = msg["import_path"], msg["name"]
        # A type defined as another package's struct (`type MatchCondition v1.MatchCondition`) has its fields.
        while name in packages[import_path][2]:
            import_path, name = packages[import_path][2][name]
        structs, slices, _, custom_json = packages[import_path]
        if name not in structs and name not in slices:
            sys.exit(f"{full}: no Go type")
        if name in structs and structs[name] is None:
            sys.exit(f"{full}: its Go struct has a field line this parser cannot read")
        msg["go_fields"] = structs.get(name)
        msg["slice"] = name in slices
        # Embedding a type promotes its MarshalJSON (QuantityValue embeds Quantity).
        promoted = any(
            go["embedded"] and go["gotype"].split(".")[-1] in any_custom_json for go in msg["go_fields"] or []
        )
        msg["custom_json"] = name in custom_json or promoted
    return messages, group_versions, sources


def resolve(type_name, package, messages):
    if type_name in SCALARS:
        return None
    full = type_name[1:] if type_name.startswith(".") else f"{package}.{type_name}"
    if full not in messages:
        sys.exit(f"unknown proto type {type_name} in {package}")
    return full


def build(messages):
    table = {}
    dropped = set()
    for full, msg in sorted(messages.items()):
        if msg["custom_json"] and full not in SPECIAL_SHAPES:
            # Its own JSON form, which the decoder does not render: left out, which the check below keeps safe.
            dropped.add(full)
            continue
        shape = SPECIAL_SHAPES.get(full, "List" if msg["slice"] else "Struct")
        go_by_tag = {}
        kind = False
        for go in msg["go_fields"] or []:
            if go["proto"] is None or go["proto"] == ["-"]:
                if go["embedded"] and go["gotype"] in ("metav1.TypeMeta", "TypeMeta"):
                    kind = True
                continue
            go_by_tag[int(go["proto"][1])] = go
        fields = []
        for pf in msg["proto_fields"]:
            target = resolve(pf["type"], msg["package"], messages)
            kind_expr = f"Kind::Message(&{ident(target)})" if target else f"Kind::{SCALARS[pf['type']]}"
            if shape == "List":
                # A named Go slice type: the proto wrapper's one repeated field holds its elements.
                assert pf["tag"] == 1 and pf["label"] == "repeated", full
                fields.append((1, "items", kind_expr, "Slice", "Never"))
                continue
            if shape != "Struct":
                # Its own JSON form: the decoder reads the fields by number; the names only label errors.
                card = {"optional": "Value", "repeated": "Slice"}[pf["label"]]
                fields.append((pf["tag"], pf["name"], kind_expr, card, "Never"))
                continue
            go = go_by_tag.pop(pf["tag"], None)
            if go is None:
                sys.exit(f"{full}: proto field {pf['name']} = {pf['tag']} has no Go field")
            json_opts = go["json"] or [""]
            json_name, opts = json_opts[0], json_opts[1:]
            if json_name == "-":
                continue  # not part of the JSON form
            gotype = go["gotype"]
            if go["embedded"] and json_name == "":
                assert not gotype.startswith("*") and target and shape == "Struct", full
                card = "Inline"
            elif pf["label"] == "map":
                card = "Map"
            elif pf["label"] == "repeated":
                assert not gotype.startswith(("*", "[]*", "map[")), (full, gotype)
                card = "Slice"
            elif gotype.startswith("*"):
                card = "Pointer"
            else:
                card = "Value"
            if json_name == "" and card != "Inline":
                json_name = go["goname"]  # Go's default JSON name for a field without one
            omit = "Zero" if "omitzero" in opts else "Empty" if "omitempty" in opts else "Never"
            if omit == "Zero" and card == "Value" and target:
                assert SPECIAL_SHAPES.get(target) in ("Time", "MicroTime"), (full, "omitzero on", target)
            fields.append((pf["tag"], json_name, kind_expr, card, omit))
        if shape == "Struct" and go_by_tag:
            sys.exit(f"{full}: Go fields with protobuf tags {sorted(go_by_tag)} missing from generated.proto")
        fields.sort()
        table[full] = {"shape": shape, "kind": kind, "fields": fields}
    referenced = {expr for entry in table.values() for _, _, expr, _, _ in entry["fields"]}
    for full in dropped:
        if f"Kind::Message(&{ident(full)})" in referenced:
            sys.exit(f"{full} has its own JSON form (MarshalJSON) and is used by a field: give it a shape")
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", action="append", required=True, help="GITDIR@REF of one upstream repository")
    args = parser.parse_args()
    messages, group_versions, sources = load(args.repo)
    table = build(messages)
    idents = {ident(full) for full in table}
    assert len(idents) == len(table), "two messages map to one Rust name"

    out = []
    w = out.append
    w("//! The field table of every Kubernetes protobuf message: for each message its proto field numbers, the JSON")
    w("//! name and form the API server's Go encoder gives each field, and each field's type. GENERATED by")
    w("//! `tests/tools/gen_protobuf_fields.py` from upstream's generated.proto files and Go type definitions at:")
    for name, ref in sources:
        w(f"//! kubernetes/{name} {ref},")
    w("//! Do not edit by hand; re-run the generator (its header says how).")
    w("")
    w("use super::table::{Card, Field, Kind, Message, Omit, Shape};")
    w("")
    w("/// apiVersion → proto package of its types, sorted by apiVersion.")
    w("pub static GROUP_VERSIONS: &[(&str, &str)] = &[")
    for api_version, package in sorted(group_versions.items()):
        w(f'    ("{api_version}", "{package}"),')
    w("];")
    w("")
    w("/// Every message, sorted by full proto name.")
    w("pub static MESSAGES: &[&Message] = &[")
    for full in sorted(table):
        w(f"    &{ident(full)},")
    w("];")
    for full, entry in sorted(table.items()):
        w("")
        w(f"pub static {ident(full)}: Message = Message {{")
        w(f'    name: "{full}",')
        w(f"    shape: Shape::{entry['shape']},")
        w(f"    kind: {'true' if entry['kind'] else 'false'},")
        if entry["fields"]:
            w("    fields: &[")
            for tag, json_name, kind_expr, card, omit in entry["fields"]:
                w(f'        Field::new({tag}, "{json_name}", {kind_expr}, Card::{card}, Omit::{omit}),')
            w("    ],")
        else:
            w("    fields: &[],")
        w("};")
    # Formatted as the crate's rustfmt.toml says, so the committed file is exactly the generator's output.
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    formatted = subprocess.run(
        ["rustfmt", "--edition", "2021", "--config-path", os.path.join(root, "rustfmt.toml"), "--emit", "stdout"],
        input="\n".join(out) + "\n", check=True, capture_output=True, text=True,
    ).stdout
    sys.stdout.write(formatted)


if __name__ == "__main__":
    main()
