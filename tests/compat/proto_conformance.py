#!/usr/bin/python3
"""Checks raftkv's etcd .proto files against the descriptors Debian's python3-etcd3 ships.

Usage: proto_conformance.py DESCRIPTOR_SET [--plant-bug]

DESCRIPTOR_SET is `protoc --descriptor_set_out --include_imports` of proto/etcd/rpc.proto.
Every message, field (name, number, type, label, message type) and enum value that both
sides define must agree, as must every service method they share (request, response,
streaming). Messages and methods python3-etcd3 has and we lack are reported too. --plant-bug renumbers one field in memory first, to
prove the check catches a mismatch. Exit status 0 when everything agrees.
"""
import sys

from google.protobuf import descriptor_pb2
from etcd3.etcdrpc import rpc_pb2  # Debian python3-etcd3; needs /usr/bin/python3

def walk_messages(prefix, messages, out):
    for m in messages:
        name = prefix + m.name
        out[name] = m
        walk_messages(name + ".", m.nested_type, out)


def walk_enums(prefix, file_or_msg, out):
    for e in file_or_msg.enum_type:
        out[prefix + e.name] = {v.name: v.number for v in e.value}
    for m in getattr(file_or_msg, "nested_type", []):
        walk_enums(prefix + m.name + ".", m, out)


def index(files):
    messages, enums, methods = {}, {}, {}
    for f in files:
        walk_messages(f.package + ".", f.message_type, messages)
        walk_enums(f.package + ".", f, enums)
        for m in f.message_type:
            walk_enums(f.package + "." + m.name + ".", m, enums)
        for s in f.service:
            for meth in s.method:
                methods[f"{f.package}.{s.name}/{meth.name}"] = (
                    meth.input_type.lstrip("."), meth.output_type.lstrip("."),
                    meth.client_streaming, meth.server_streaming)
    return messages, enums, methods


def theirs():
    files = []
    seen = set()

    def add(fd):
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        files.append(proto)

    add(rpc_pb2.DESCRIPTOR)
    return files


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ours = descriptor_pb2.FileDescriptorSet()
    with open(sys.argv[1], "rb") as f:
        ours.ParseFromString(f.read())
    if "--plant-bug" in sys.argv:
        for fd in ours.file:
            for m in fd.message_type:
                if m.name == "PutRequest":
                    m.field[0].number = 99
    our_msgs, our_enums, our_methods = index(ours.file)
    their_msgs, their_enums, their_methods = index(theirs())

    problems = []
    compared = 0
    for name, tm in sorted(their_msgs.items()):
        om = our_msgs.get(name)
        if om is None:
            problems.append(f"message {name} is missing")
            continue
        ofields = {f.name: f for f in om.field}
        for tf in tm.field:
            of = ofields.get(tf.name)
            if of is None:
                problems.append(f"{name}.{tf.name} is missing")
                continue
            compared += 1
            for attr in ("number", "type", "label", "type_name"):
                if getattr(of, attr) != getattr(tf, attr):
                    problems.append(f"{name}.{tf.name}: {attr} is {getattr(of, attr)!r}, "
                                    f"etcd has {getattr(tf, attr)!r}")
            if tf.HasField("oneof_index") != of.HasField("oneof_index"):
                problems.append(f"{name}.{tf.name}: oneof membership differs")
        # Fields we add must not reuse a number etcd gives another field.
        tnums = {f.number: f.name for f in tm.field}
        for of in om.field:
            if of.number in tnums and tnums[of.number] != of.name:
                problems.append(f"{name}.{of.name} reuses number {of.number} of {tnums[of.number]}")
    for name, values in sorted(their_enums.items()):
        if name not in our_enums:
            problems.append(f"enum {name} is missing")
            continue
        for v, n in values.items():
            if our_enums[name].get(v) != n:
                problems.append(f"enum {name}.{v} is {our_enums[name].get(v)}, etcd has {n}")
    for name, sig in sorted(their_methods.items()):
        if our_methods.get(name) != sig:
            problems.append(f"method {name} is {our_methods.get(name)}, etcd has {sig}")

    for p in problems:
        print("MISMATCH:", p)
    print(f"compared {compared} fields, {len(their_methods)} methods: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
