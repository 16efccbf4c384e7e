"""A Python client of prefstream.v1.Generation/Chat, ChatStream and Feedback/Submit by response id.

It works as a Python user would: stubs generated from the project's .proto files with
grpc_tools.protoc (Debian's python3-grpc-tools), then calls through them with python3-grpcio.
Debian's protoc predates proto3 `optional`, so each `optional T name = N;` is first rewritten as
the synthetic oneof it stands for (`oneof _name { T name = N; }`): the same wire format, and
HasField() still works. Newer grpcio-tools (pip) take the files as they are.

Usage: chat_client.py HOST:PORT PROTO_DIR WORK_DIR MESSAGE MAX_NEW_TOKENS
Prints one JSON object with what the server answered.
"""
import json
import os
import re
import sys

import grpc
from grpc_tools import protoc

OPTIONAL = re.compile(r"\boptional\s+([A-Za-z0-9_.]+)\s+(\w+)\s*=\s*(\d+)\s*;")


def generate_stubs(proto_dir, work_dir):
    src = os.path.join(work_dir, "proto")
    out = os.path.join(work_dir, "gen")
    os.makedirs(os.path.join(src, "prefstream", "v1"), exist_ok=True)
    os.makedirs(out, exist_ok=True)
    files = []
    for name in sorted(os.listdir(os.path.join(proto_dir, "prefstream", "v1"))):
        if not name.endswith(".proto"):
            continue
        with open(os.path.join(proto_dir, "prefstream", "v1", name), encoding="utf-8") as f:
            text = OPTIONAL.sub(r"oneof _\2 { \1 \2 = \3; }", f.read())
        path = os.path.join(src, "prefstream", "v1", name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        files.append(path)
    rc = protoc.main(["protoc", "-I" + src, "--python_out=" + out, "--grpc_python_out=" + out] + files)
    if rc != 0:
        raise SystemExit("protoc failed with %d" % rc)
    sys.path.insert(0, out)


def main():
    target, proto_dir, work_dir, message, max_new = sys.argv[1:6]
    generate_stubs(proto_dir, work_dir)
    from prefstream.v1 import feedback_pb2, feedback_pb2_grpc, generation_pb2, generation_pb2_grpc

    request = generation_pb2.ChatRequest(
        messages=[generation_pb2.ChatMessage(role="user", content=message)],
        sampling=generation_pb2.SamplingParams(max_new_tokens=int(max_new), temperature=0.0),
        user_id="py-user")
    with grpc.insecure_channel(target) as channel:
        generation = generation_pb2_grpc.GenerationStub(channel)
        reply = generation.Chat(request, timeout=30)
        chunks = list(generation.ChatStream(request, timeout=30))
        feedback = feedback_pb2_grpc.FeedbackStub(channel)
        submitted = feedback.Submit(feedback_pb2.SubmitFeedbackRequest(
            response_id=reply.response_id, thumb=feedback_pb2.ThumbFeedback(up=True)), timeout=30)
        try:
            generation.Chat(generation_pb2.ChatRequest(), timeout=30)
            empty_error = None
        except grpc.RpcError as e:
            empty_error = {"code": e.code().name, "details": e.details()}
    print(json.dumps({
        "policy_id": reply.policy.policy_id,
        "version": reply.policy.version,
        "response_id": reply.response_id,
        "text": reply.text,
        "rendered_prompt": reply.rendered_prompt,
        "finish_reason": reply.finish_reason,
        "stream_text": "".join(c.text for c in chunks),
        "stream_finished": chunks[-1].finished,
        "stream_rendered_prompt": chunks[-1].rendered_prompt,
        "event_id": submitted.event_id,
        "empty_error": empty_error,
    }))


if __name__ == "__main__":
    main()
