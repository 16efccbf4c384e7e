"""An independent load client for prefstream's Generation/Generate, on Debian's python3-grpcio.

Messages are encoded and decoded by hand from the protobuf wire format (generation.proto in the
schemas module), so nothing generated from the project is involved. Each of CLIENTS threads sends
REQUESTS Generate calls one after the other (sampled: temperature 1, top-p 0.95, a seed per request)
for exactly MAX_NEW tokens (ignore_eos; IGNORE_EOS=0 lets replies end at the model's end token, and a
server older than that field ends them there anyway);
prints one JSON line: completion tokens/s over the wall time of the level, the median and p90
latency, the requests done, the errors, and when each client finished.

Usage: serving_load.py HOST:PORT CLIENTS REQUESTS MAX_NEW [POLICY ...]
With POLICY ids, request i of client c names POLICY[(c + i) % len]; otherwise the default policy.
"""
import json
import os
import struct
import sys
import threading
import time

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


def generate_request(prompt, max_new, seed, policy, ignore_eos=False):
    sampling = (field(1, 0, varint(max_new)) + field(2, 5, struct.pack("<f", 1.0))
                + field(3, 5, struct.pack("<f", 0.95)) + field(5, 0, varint(seed)))
    if ignore_eos:
        # ignore_eos (10): every reply is max_new tokens long; one that ended at the end token would
        # leave its client idle while the others still run, and the level would measure that
        sampling += field(10, 0, varint(1))
    msg = string_field(2, prompt) + field(3, 2, varint(len(sampling)) + sampling)
    if policy:
        msg = string_field(1, policy) + msg
    return msg


def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def completion_tokens(data):
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = read_varint(data, i)
            if number == 5:
                return value
        elif wire_type == 2:
            length, i = read_varint(data, i)
            i += length
        elif wire_type == 5:
            i += 4
        elif wire_type == 1:
            i += 8
        else:
            raise ValueError("unsupported wire type %d" % wire_type)
    return 0


def main():
    target, clients, requests, max_new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    policies = sys.argv[5:]
    ignore_eos = os.environ.get("IGNORE_EOS", "1") != "0"
    channel = grpc.insecure_channel(target)
    call = channel.unary_unary("/prefstream.v1.Generation/Generate",
                               request_serializer=lambda b: b, response_deserializer=lambda b: b)
    latencies, tokens, errors, done = [], [0], [], []
    lock = threading.Lock()

    def client(c):
        for i in range(requests):
            policy = policies[(c + i) % len(policies)] if policies else ""
            req = generate_request("Once upon a time, client %d asked question %d:" % (c, i), max_new,
                                   1000 * c + i + 1, policy, ignore_eos)
            t0 = time.perf_counter()
            try:
                resp = call(req, timeout=600)
            except grpc.RpcError as e:
                with lock:
                    errors.append(str(e.code()))
                continue
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                tokens[0] += completion_tokens(resp)
        with lock:
            done.append(time.perf_counter())

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    print(json.dumps({"clients": clients, "requests": len(latencies), "errors": errors,
                      "completion_tokens": tokens[0], "wall_s": round(wall, 2),
                      "tokens_per_s": round(tokens[0] / wall, 1),
                      "p50_s": round(pick(0.5), 3), "p90_s": round(pick(0.9), 3),
                      # when each client sent its last reply home, from the start: the spread is the run's ramp-down
                      "clients_done_s": sorted(round(d - start, 2) for d in done)}))


if __name__ == "__main__":
    main()
