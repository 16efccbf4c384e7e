# Renders a chat template the way transformers' apply_chat_template does (jinja2 sandbox, trim_blocks,
# lstrip_blocks, raise_exception, strftime_now, tojson). Input JSON on stdin: {"template", "cases": [{"messages",
# "add_generation_prompt", "bos_token", "eos_token"}]}; prints a JSON list of {"text"} or {"error"}.
import datetime, json, sys
import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
env.filters["tojson"] = tojson
req = json.load(sys.stdin)
template = env.from_string(req["template"])
out = []
for case in req["cases"]:
    try:
        out.append({"text": template.render(**case)})
    except jinja2.exceptions.TemplateError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
