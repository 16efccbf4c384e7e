"""Waits until a replica serves version >= 1 of every given policy (independent client, hand-decoded protobuf).

Usage: await_policies.py HOST:PORT TIMEOUT_S POLICY [POLICY ...]; exits 0 when all are served, 1 on timeout.
"""
import sys
import time

import grpc

from serving_load import generate_request, read_varint


def fields(data):
    """(number, wire type, value) of each top-level field; value is bytes for length-delimited ones."""
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = read_varint(data, i)
        elif wire_type == 2:
            length, i = read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire_type == 5:
            value, i = data[i:i + 4], i + 4
        elif wire_type == 1:
            value, i = data[i:i + 8], i + 8
        else:
            raise ValueError("unsupported wire type %d" % wire_type)
        yield number, wire_type, value


def served_version(resp):
    for number, _, value in fields(resp):
        if number == 1:  # GenerateResponse.policy: PolicyRef
            return next((v for n, _, v in fields(value) if n == 2), 0)
    return 0


def main():
    target, timeout, policies = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    call = grpc.insecure_channel(target).unary_unary("/prefstream.v1.Generation/Generate",
                                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
    waiting, deadline = set(policies), time.time() + timeout
    while waiting and time.time() < deadline:
        for p in sorted(waiting):
            try:
                if served_version(call(generate_request("hello", 1, 1, p), timeout=60)) >= 1:
                    waiting.discard(p)
            except grpc.RpcError:
                pass  # not known to the replica yet
        if waiting:
            time.sleep(0.5)
    if waiting:
        print("not served after %.0f s: %s" % (timeout, " ".join(sorted(waiting))), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
