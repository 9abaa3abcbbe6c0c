"""The chat formats models are trained on, recognised by their markers — never by running a template.

A chat template is a Jinja program; Quant Doctor never renders or executes one (a file's template
is data, not code). It is compared as text: which format's markers it writes, whether it writes a
BOS token or `<think>`. The same markers, found as whole tokens in the vocabulary, say which format
the model was trained for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TEMPLATE_CHARS = 64 * 1024  # a bounded copy: real templates are 1-20 KB; the rest is not needed


@dataclass(frozen=True)
class ChatFormat:
    name: str
    markers: tuple[str, ...]  # all of these appear in a template of this format
    special: tuple[str, ...] = ()  # the special tokens the format needs in the vocabulary
    end_of_turn: str | None = None  # the token that ends the assistant's turn


# Most specific first: Harmony and Phi-3 both use <|end|>; Zephyr and Phi-3 both use <|user|>.
FORMATS: tuple[ChatFormat, ...] = (
    ChatFormat("ChatML", ("<|im_start|>",), ("<|im_start|>", "<|im_end|>"), "<|im_end|>"),
    ChatFormat("Llama 3", ("<|start_header_id|>",), ("<|start_header_id|>", "<|eot_id|>"), "<|eot_id|>"),
    ChatFormat("Gemma", ("<start_of_turn>",), ("<start_of_turn>", "<end_of_turn>"), "<end_of_turn>"),
    ChatFormat("gpt-oss Harmony", ("<|channel|>",), ("<|start|>", "<|channel|>", "<|end|>"), "<|end|>"),
    ChatFormat("Phi-3", ("<|assistant|>", "<|end|>"), ("<|assistant|>", "<|end|>"), "<|end|>"),
    ChatFormat("Command-R", ("<|START_OF_TURN_TOKEN|>",), ("<|START_OF_TURN_TOKEN|>",), "<|END_OF_TURN_TOKEN|>"),
    ChatFormat("Granite", ("<|start_of_role|>",), ("<|start_of_role|>", "<|end_of_role|>"), "<|end_of_text|>"),
    ChatFormat("DeepSeek", ("<｜Assistant｜>",), ("<｜Assistant｜>",), "<｜end▁of▁sentence｜>"),
    ChatFormat("Mistral [INST]", ("[INST]",), (), "</s>"),
    ChatFormat("Zephyr", ("<|assistant|>",), (), "</s>"),
    ChatFormat("Alpaca", ("### Instruction", "### Response")),
    ChatFormat("Vicuna", ("USER:", "ASSISTANT:")),
)
BY_NAME = {f.name: f for f in FORMATS}

# Every marker worth looking up in a vocabulary (the formats' special tokens, and <think>).
VOCAB_MARKERS: tuple[str, ...] = tuple(dict.fromkeys([m for f in FORMATS for m in f.special] + ["<think>", "</think>"]))

# Architectures whose official chat models all use one format (gguf-py's arch names).
ARCH_FORMAT = {
    "qwen2": "ChatML",
    "qwen2moe": "ChatML",
    "qwen3": "ChatML",
    "qwen3moe": "ChatML",
    "gemma": "Gemma",
    "gemma2": "Gemma",
    "gemma3": "Gemma",
    "phi3": "Phi-3",
    "command-r": "Command-R",
    "cohere2": "Command-R",
    "gpt-oss": "gpt-oss Harmony",
    "granite": "Granite",
    "granitemoe": "Granite",
}

# Texts tokenizers use for BOS (when the vocabulary itself cannot be read).
COMMON_BOS = ("<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", "<｜begin▁of▁sentence｜>")

_BOS_VAR = re.compile(r"\{\{-?\s*bos_token\s*-?\}\}")
_FIRST_OUTPUT = re.compile(
    r"^\s*(?:\{%-?.*?-?%\}\s*|\{#.*?#\}\s*)*(?:\{\{-?\s*(['\"])(.*?)\1\s*-?\}\}|([^{\s][^{]*))", re.S
)


def template_format(template: str | None) -> ChatFormat | None:
    """The format a template writes, by its markers (case-sensitive, as tokens are)."""
    if not template:
        return None
    for f in FORMATS:
        if all(m in template for m in f.markers):
            return f
    low = template.lower()
    if "### instruction" in low and "### response" in low:
        return BY_NAME["Alpaca"]
    return None


def vocab_format(markers: list[str] | tuple[str, ...]) -> ChatFormat | None:
    """The format whose special tokens are all in the vocabulary (None when none or several fit)."""
    have = set(markers)
    fits = [f for f in FORMATS if f.special and all(m in have for m in f.special)]
    if len(fits) == 1:
        return fits[0]
    # Harmony's tokens include Phi-3's <|end|>; a vocabulary with <|channel|> is Harmony.
    names = {f.name for f in fits}
    if "gpt-oss Harmony" in names:
        return BY_NAME["gpt-oss Harmony"]
    return None


def starts_with_bos(template: str | None, bos_text: str | None) -> str | None:
    """How the template writes a BOS at the very start of its output ("{{ bos_token }}" or the
    literal text), or None. Read as text: Jinja control blocks before the first output are skipped."""
    if not template:
        return None
    head = template[:2000]
    m = _FIRST_OUTPUT.match(head)
    first_var = _BOS_VAR.search(head)
    if first_var is not None:
        before = head[: first_var.start()]
        if "{{" not in before and not re.search(r"[^\s]", re.sub(r"\{%.*?%\}|\{#.*?#\}", "", before, flags=re.S)):
            return "{{ bos_token }}"
    if m is None:
        return None
    literal = (m.group(2) or m.group(3) or "").lstrip()
    for bos in ([bos_text] if bos_text else []) + list(COMMON_BOS):
        if bos and literal.startswith(bos):
            return bos
    return None


def mentions_thinking(template: str | None) -> bool:
    return bool(template) and ("<think>" in template or "enable_thinking" in template)  # type: ignore[operator]
