"""Quant types read from names on the Hub (file names, repository names), and their tiers.

A GGUF file name usually says its type ("Model-8B-Instruct-Q4_K_M.gguf"); the type's nominal bits per
weight come from the gguf package's block sizes (the dominant ggml type of the mix: Q4_K_M → Q4_K →
4.5 bpw), and the S/M/L/XL variant breaks ties. That is a nominal figure for ranking; a file header
read over HTTP (core.hub.peek) gives the real census where it matters.

The tiers are the domain rules of the quant-tier and architecture checks: Q4_K_M is the floor,
Q5_K_M the comfort zone (and the floor for MoE models), Q8_0 about lossless; 4.0 bpw for EXL2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import gguf

from core.model.gguf_reader import NEWER_FILE_TYPE_NAMES, NEWER_TYPE_NAMES
from core.textnum import BITS, decimal_or_none, json_decimal, whole_or_none

_VARIANTS = {"XXS": -2, "XS": -1, "S": 0, "NL": 1, "M": 1, "L": 2, "XL": 3, "XXL": 4}
_NON_WEIGHT = {"I8", "I16", "I32", "I64", "F64", "Q8_1", "Q8_K"}


def _known_names() -> set[str]:
    names = {m.name.removeprefix("MOSTLY_").removeprefix("ALL_") for m in gguf.LlamaFileType if m.name != "GUESSED"}
    names |= {m.name for m in gguf.GGMLQuantizationType if m.name not in _NON_WEIGHT}
    names |= set(NEWER_TYPE_NAMES.values()) | set(NEWER_FILE_TYPE_NAMES.values())
    return names


KNOWN = _known_names()
_TOKEN = re.compile(
    r"^(?P<ud>UD[-_])?(?P<name>I?Q\d+_(?:K|\d|[A-Z]{1,3})(?:_(?:XXS|XS|S|M|L|XL|XXL|NL))?|BF16|F16|FP16|F32|FP32"
    r"|TQ\d_\d|MXFP4(?:_MOE)?|NVFP4)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QuantType:
    """A quantization named on the Hub: a GGUF type, or EXL2 bpw / GPTQ / AWQ bits."""

    name: str  # "Q4_K_M", "IQ4_XS", "EXL2 4.65bpw", "GPTQ 4-bit"
    method: str = "gguf"  # gguf, exl2, gptq, awq
    bpw: float | None = None  # nominal bits per weight
    variant: int = 1  # S=0, M=1, L=2, XL=3: order among types of the same bpw
    ggml_type: str | None = None  # the dominant ggml type of a GGUF mix
    dynamic: bool = False  # "UD-" (dynamic) quants: more tensors kept at higher precision

    @property
    def rank(self) -> tuple[float, int]:
        return (self.bpw or 0.0, self.variant)

    def meets_floor(self, moe: bool) -> bool | None:
        """≥ Q4_K_M (≥ Q5_K_M for MoE); for EXL2 ≥ 4.0 bpw (5.0 MoE); GPTQ/AWQ ≥ 4 bits (8 MoE)."""
        if self.bpw is None:
            return None
        if self.method == "exl2":
            return self.bpw >= (5.0 if moe else 4.0)
        if self.method in ("gptq", "awq"):
            return self.bpw >= (5.0 if moe else 4.0)
        return self.rank >= (Q5_K_M.rank if moe else Q4_K_M.rank)

    def tier(self, moe: bool = False) -> str:
        """A plain label: near-lossless, comfort, floor, just below the floor, too aggressive (or unknown)."""
        if self.bpw is None:
            return "unknown"
        if self.bpw >= 8.0:
            return "near-lossless"
        if self.method == "gguf":
            if self.rank >= Q5_K_M.rank:
                return "comfort"
            if self.rank >= Q4_K_M.rank:
                return "floor (too low for MoE)" if moe else "floor"
            return "just below the floor" if self.bpw >= 4.0 else "too aggressive"
        if self.bpw >= 5.0:
            return "comfort"
        if self.bpw >= 4.0:
            return "floor (too low for MoE)" if moe else "floor"
        return "too aggressive"


def _ggml_bpw(type_name: str) -> float | None:
    try:
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[type_name]]
    except KeyError:
        return None
    return size * 8 / block


def _dominant_ggml(name: str) -> str | None:
    """Q4_K_M → Q4_K; IQ3_M → IQ3_S; MXFP4_MOE → MXFP4; a ggml type names itself."""
    if name in gguf.GGMLQuantizationType.__members__:
        return name
    if name in ("FP16", "FP32"):
        return name.replace("FP", "F")
    head, _, _tail = name.rpartition("_")
    for candidate in (head, head + "_S", head + "_XXS", head.removesuffix("_MOE")):
        if candidate in gguf.GGMLQuantizationType.__members__:
            return candidate
    return None


def gguf_type(name: str, dynamic: bool = False) -> QuantType | None:
    """A GGUF type from its name (case-insensitive), or None if it is not one."""
    upper = name.upper()
    m = _TOKEN.match(upper)
    if not m:
        return None
    dynamic = dynamic or bool(m.group("ud"))
    upper = m.group("name").upper()
    base = upper
    suffix = ""
    for var in sorted(_VARIANTS, key=len, reverse=True):
        if upper.endswith("_" + var) and upper.count("_") >= 2:
            base, suffix = upper[: -len(var) - 1], var
            break
    known = upper in KNOWN or base + "_M" in KNOWN or base + "_S" in KNOWN or base in KNOWN
    if not known and upper not in ("FP16", "FP32"):
        return None
    ggml = _dominant_ggml(upper)
    bpw = _ggml_bpw(ggml) if ggml else None
    if bpw is None:  # a type newer than the installed gguf package: its digit plus the usual scale overhead
        digit = re.search(r"\d+", upper)
        bits = whole_or_none(digit.group(), BITS) if digit else None
        bpw = bits + 0.5 if bits is not None else None
    if suffix:
        variant = _VARIANTS[suffix]
    elif re.fullmatch(r"Q\d_[01]", upper):
        variant = 0  # legacy Q4_0 / Q5_0 ...: below the K-quant of the same size
    else:
        variant = 1
    return QuantType(upper, "gguf", bpw, variant, ggml, dynamic)


Q4_K_M = QuantType("Q4_K_M", "gguf", _ggml_bpw("Q4_K"), 1, "Q4_K")
Q5_K_M = QuantType("Q5_K_M", "gguf", _ggml_bpw("Q5_K"), 1, "Q5_K")


def type_from_filename(filename: str) -> QuantType | None:
    """The GGUF type a file name announces ("…-Q4_K_M.gguf", "…-UD-Q4_K_XL-00001-of-00002.gguf")."""
    stem = filename.rsplit("/", 1)[-1]
    stem = re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", stem)
    tokens = re.split(r"[-.]", stem)
    found: QuantType | None = None
    for i, token in enumerate(tokens):
        dynamic = i > 0 and tokens[i - 1].upper() == "UD"
        qt = gguf_type(token, dynamic)
        if qt is not None:
            found = qt  # the last one wins: "Q8_0-imat-Q4_K_M" style names put the type last
    return found


_BPW = re.compile(r"(\d+(?:\.\d+)?)\s*-?bpw", re.IGNORECASE)
_BITS = re.compile(r"(?:(?<![a-z0-9])int(\d)|(\d)\s*-?bits?(?![a-z])|w(\d)a\d+|(?<![a-z0-9])(\d)b(?:it)?(?=[-_]|$))",
                   re.IGNORECASE)  # fmt: skip


def method_from_repo(repo_id: str, tags: list[str] | None = None) -> str | None:
    """gguf / exl2 / gptq / awq from a repository's name and tags."""
    words = {t.lower() for t in (tags or [])}
    low = repo_id.lower()
    for method in ("gguf", "exl2", "exl3", "gptq", "awq"):
        if method in words or re.search(rf"(?<![a-z]){method}(?![a-z])", low):
            return method
    return None


def folder_type(method: str, repo_id: str, quant_config: dict[str, object] | None = None) -> QuantType:
    """EXL2 bpw or GPTQ/AWQ bits, from the repository's config when given, else from its name."""
    bits: float | None = None
    if quant_config:
        bits = json_decimal(quant_config.get("bits"), BITS)  # a JSON number in range, else None (5e-324, "4")
    if bits is None:
        m = _BPW.search(repo_id)
        if m:
            bits = decimal_or_none(m.group(1), BITS)
    if bits is None and method in ("gptq", "awq"):
        m = _BITS.search(repo_id.rsplit("/", 1)[-1])
        if m:
            bits = decimal_or_none(next(g for g in m.groups() if g), BITS)
        elif method == "awq":
            bits = 4.0  # AWQ is 4-bit in practice
    if method in ("exl2", "exl3"):
        name = f"{method.upper()} {bits:g}bpw" if bits is not None else method.upper()
    else:
        name = f"{method.upper()} {bits:g}-bit" if bits is not None else method.upper()
    return QuantType(name, method, bits, 1, None, False)
