#!/usr/bin/env python3
"""Runs llama.cpp (llama-cpp-python) once on the GGUF fixtures and writes what BerthGenerate's
tests compare against, next to each fixture as NAME.reference.json:
  - tokenization of a few strings (with BOS as the vocabulary says; and with special tokens parsed),
  - the logits after the prompt and after each of the first greedy steps,
  - the greedy tokens for 32 steps.
The KV cache is F32 and flash attention off so the reference is llama.cpp's plain CPU path.
llama-cpp-python compiles llama.cpp, so this runs by hand, not in CI:
  CMAKE_ARGS="-DGGML_NATIVE=OFF" python -m venv /work/llama-venv && /work/llama-venv/bin/pip install llama-cpp-python numpy
  /work/llama-venv/bin/python scripts/make_llama_reference.py [FIXTURE_DIR]
"""
import glob
import json
import os
import sys

import llama_cpp
import numpy as np
from llama_cpp import Llama

PROMPT = "The capital of France is"
STRINGS = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog.",
    "  two  spaces, tabs\tand\nnew lines",
    "It's fine, we'll see. They're here; I'm there.",
    "Numbers 1234567 and symbols #$%&*+-/<=>@^_|~",
    "unicode: café, naïve, 東京, emoji 🙂",
    "digits 1234567890 and 'QUOTES' DON'T\r\n\n  indented\n\tline",
    "code: x=f(a,b);\n    return [1, 22, 333]\n\n\n",
    "",
]
SPECIAL = "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
STEPS = 32
LOGIT_STEPS = 4


TEMPLATES = {
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "llama2": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    "chatml_blocks": "{%- for message in messages %}\n    {%- if message.role == 'system' %}\n        {{- '<|im_start|>system\\n' + message.content + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content | trim + '<|im_end|>\\n' }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
}
CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  What is 2+2? "},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}],
]


def render_templates(root):
    """Chat templates rendered by jinja2 the way Hugging Face renders them (trim_blocks, lstrip_blocks)."""
    import jinja2
    from gguf import GGUFReader

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    templates = dict(TEMPLATES)
    for path in sorted(glob.glob(os.path.join(root, "*.gguf"))):
        r = GGUFReader(path)
        f = r.fields["tokenizer.chat_template"]
        templates[os.path.basename(path)[:-5]] = bytes(f.parts[f.data[0]]).decode()
    cases = []
    for name, src in templates.items():
        t = env.from_string(src)
        for conv in CONVERSATIONS:
            for agp in (True, False):
                try:
                    text, error = t.render(messages=conv, add_generation_prompt=agp, bos_token="<s>", eos_token="</s>"), None
                except jinja2.exceptions.TemplateError as e:
                    text, error = None, str(e)
                cases.append({"template": name, "source": src, "messages": conv, "add_generation_prompt": agp, "text": text, "error": error})
    with open(os.path.join(root, "chat_templates.reference.json"), "w") as f:
        json.dump(cases, f, indent=1)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "python", "fixtures", "gguf")
    render_templates(root)
    for path in sorted(glob.glob(os.path.join(root, "*.gguf"))):
        llm = Llama(model_path=path, n_ctx=256, n_batch=256, n_threads=2, logits_all=True, seed=0, verbose=False,
                    type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False)
        ref = {"llama_cpp_python": llama_cpp.__version__, "prompt": PROMPT, "tokenize": [], "steps": STEPS}
        for s in STRINGS:
            ref["tokenize"].append({"text": s, "special": False, "tokens": llm.tokenize(s.encode(), add_bos=True, special=False)})
        ref["tokenize"].append({"text": SPECIAL, "special": True, "tokens": llm.tokenize(SPECIAL.encode(), add_bos=True, special=True)})
        prompt = llm.tokenize(PROMPT.encode(), add_bos=True, special=False)
        ref["prompt_tokens"] = prompt
        llm.reset()
        llm.eval(prompt)
        greedy, logits = [], []
        for step in range(STEPS):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            if step < LOGIT_STEPS:
                logits.append([float(x) for x in row])
            nxt = int(np.argmax(row))
            greedy.append(nxt)
            llm.eval([nxt])
        ref["greedy"] = greedy
        ref["logits"] = logits
        ref["detokenize"] = llm.detokenize(greedy).decode("utf-8", errors="replace")
        out = path[: -len(".gguf")] + ".reference.json"
        with open(out, "w") as f:
            json.dump(ref, f)
        print(out, "greedy:", greedy[:8], "...")


if __name__ == "__main__":
    main()
