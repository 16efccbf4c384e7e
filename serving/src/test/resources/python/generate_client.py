"""An independent gRPC client: calls prefstream.v1.Generation/Generate with Debian's python3-grpcio.

The protobuf messages are encoded and decoded by hand from the wire format, so nothing generated
from the project's .proto files is involved. Usage: generate_client.py HOST:PORT PROMPT MAX_NEW_TOKENS
Prints the response as one JSON object.
"""
import json
import struct
import sys

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, wire_type, payload):
    return varint((number << 3) | wire_type) + payload


def string_field(number, text):
    data = text.encode("utf-8")
    return field(number, 2, varint(len(data)) + data)


def parse(data):
    """Field number -> list of values (ints for varints, bytes for length-delimited)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = read_varint(data, i)
        elif wire_type == 2:
            length, i = read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire_type == 5:
            value, i = struct.unpack("<f", data[i:i + 4])[0], i + 4
        elif wire_type == 1:
            value, i = struct.unpack("<d", data[i:i + 8])[0], i + 8
        else:
            raise ValueError("unsupported wire type %d" % wire_type)
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def main():
    target, prompt, max_new = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sampling = field(1, 0, varint(max_new)) + field(2, 5, struct.pack("<f", 0.0))
    request = string_field(2, prompt) + field(3, 2, varint(len(sampling)) + sampling)
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/prefstream.v1.Generation/Generate",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        raw = call(request, timeout=30)
    f = parse(raw)
    policy = parse(f[1][0])
    print(json.dumps({
        "policy_id": policy[1][0].decode("utf-8"),
        "version": policy.get(2, [0])[0],
        "response_id": f[2][0].decode("utf-8"),
        "text": f.get(3, [b""])[0].decode("utf-8", errors="replace"),
        "prompt_tokens": f.get(4, [0])[0],
        "completion_tokens": f.get(5, [0])[0],
        "finish_reason": f.get(6, [b""])[0].decode("utf-8"),
    }))


if __name__ == "__main__":
    main()
