"""The one redaction for what another process carries: command lines, environments and URLs.

An engine's command line and environment say what it runs with (`-ctk q4_0`, OLLAMA_KV_CACHE_TYPE),
and also hold its secrets: `--api-key`, `--hf-token`, text-generation-webui's `--admin-key` and
`--gradio-auth user:pw`, koboldcpp's `--adminpassword`, a password inside `--model-url
http://user:pass@host/...` or `OLLAMA_HOST`. What is read is shown, printed, saved in reports
and put in copy fields, so everything read from a process, a log or a pasted command passes here
first (core.engines.process is the only reader of another process; Setup keeps only redacted
commands).

The rule is a pattern, not a list of spellings: a flag, a variable or a key is secret when its name
holds one of the words of `_SECRET_NAME` (key, token, password, passwd, secret, auth, credential...), in any of
the forms `--name=value`, `--name value`, `NAME=value`; a URL's user information (`user:pass@`) and
its secret-named query parameters (`?token=...`) are secret wherever the URL appears. A redacted
value reads `PLACEHOLDER`. A copy field never holds the placeholder (pasted, `--api-key '(hidden)'`
would restart the server with that key): `for_copy` leaves such flags out, and `left_out_words`
says so in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

PLACEHOLDER = "(hidden)"

# What makes a name secret, matched anywhere in its lower-cased name: "--api-key", "--ssl-keyfile-password",
# "--adminpassword", "LLAMA_ARG_HF_TOKEN", "--gradio-auth", "AWS_SECRET_ACCESS_KEY", "--credentials-file".
# "token" followed by "s" or "iz" is a count or a tokenizer (vLLM's --max-num-batched-tokens, --tokenizer).
# A signed URL's signature is its password (S3's X-Amz-Signature, an Azure SAS's sig=).
_SECRET_NAME = re.compile(
    r"key|token(?!s|iz)|passw|passphrase|pwd|secret|auth|cred|cookie|bearer|jwt|signature|(?:pass|pw)(?:$|[-_.\d])"
    r"|(?:^|[-_.])sig(?:$|[-_.])"
)
# A model's special tokens are names, not secrets (GGUF's tokenizer.ggml.add_bos_token, "eos_token" in a config).
_SPECIAL_TOKEN = re.compile(r"(?:bos|eos|eot|eom|pad|unk|sep|mask|cls)[-_.]?token")
# Short aliases the pattern cannot see (llama.cpp's common/arg.cpp: -hft is --hf-token).
SHORT_ALIASES = frozenset({"-hft"})
# A secret flag with one of these prefixes is an on/off switch: it takes no value.
_SWITCH_PREFIXES = ("no-", "no_", "disable-", "disable_", "enable-", "enable_")

# with a scheme, or scheme-relative ("//user:pass@host/...") where a value starts
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://|(?:^|(?<=[\s,;=(\[\"']))//)([^\s/?#]*)@")
# Access tokens by their documented shape, wherever they stand: the Hub's user tokens ("hf_" and 34 letters),
# OpenAI-style keys ("sk-...")
_TOKEN_SHAPE = re.compile(r"(?<![\w-])(?:hf_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9_\-]{20,})(?![\w-])")
# "user:pass@host:port" without a scheme (OLLAMA_HOST takes that form), at the start of a value or after a
# separator (a list's comma, an assignment's "=", a space, a quote); a user of one letter too ("u:pw@host").
# Neither part holds a slash or a backslash, so a Windows path (C:\\models\\a@b.gguf) is not taken for one.
_BARE_USERINFO = re.compile(r"(?:^|(?<=[\s,;=(\[\"']))([^\s/\\@:=,;'\"]+:[^\s/\\@]*)@(?=[^\s@/\\]+)")
_QUERY_ITEM = re.compile(r"([?&;])([^=&#\s]+)=([^&#\s]*)")
_FLAG_IN_TEXT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w.\-]*)(=|[ \t]+)(\"[^\"]*\"|'[^']*'|(?!--)\S+)")
_ASSIGNMENT_IN_TEXT = re.compile(r"(?<![\w-])([A-Za-z_][\w.\-]*)=(\"[^\"]*\"|'[^']*'|[^\s,;)\]}]+)")
# A flag inside a printed list, as Python shows an argv (`['--api-key', 'S']`, a CalledProcessError's message)
_FLAG_IN_LIST = re.compile(r"(?<![\w-])(--?[A-Za-z][\w.\-]*)(['\"]?,[ \t]*['\"]?)([^\s'\",\])]+)")
# A name, a colon, a value: YAML and Python's dict repr (`'api_key': ['S']`, vLLM's "non-default args"), an HTTP
# header (`Authorization: Bearer S`, `X-Api-Key: S`), a sentence (TabbyAPI's "Your API key is: S"). The name is one
# word or two ("API key", "BOS token"), so that a model's special token is still a name (`_SPECIAL_TOKEN`).
_COLON_IN_TEXT = re.compile(
    r"(?<![\w-])(['\"]?)([A-Za-z_][\w.\-]*(?:[ \t][A-Za-z_][\w.\-]*)?)\1((?:[ \t]+is)?[ \t]*:[ \t]*\[?[ \t]*"
    r"(?:(?i:bearer|basic|token|digest)[ \t]+)?)(\"[^\"]*\"|'[^']*'|[^\s,;)\]}]+)"
)
# A bearer credential wherever it stands
_BEARER = re.compile(r"(?i)\b(bearer[ \t]+)([^\s,;'\"]+)")


def is_secret_name(name: str) -> bool:
    """Whether a flag, variable or key named `name` holds a secret (by the pattern, whatever its spelling)."""
    if name in SHORT_ALIASES:
        return True
    return _SECRET_NAME.search(_SPECIAL_TOKEN.sub("", name.lstrip("-").lower())) is not None


def _is_switch(flag: str) -> bool:
    return flag.lstrip("-").lower().startswith(_SWITCH_PREFIXES)


def _secret_flag(flag: str) -> bool:
    """A flag that takes a secret: a secret name that is not an on/off switch (--no-auth holds nothing)."""
    return is_secret_name(flag) and not _is_switch(flag)


def value(text: str) -> str:
    """One value (an argument, a variable's value, a URL): credentials inside URLs hidden, with or without
    a scheme (`http://user:pass@host`, `user:pass@host:port`), and secret-named query parameters."""
    out = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{PLACEHOLDER}@", text)
    out = _BARE_USERINFO.sub(f"{PLACEHOLDER}@", out)
    out = _TOKEN_SHAPE.sub(PLACEHOLDER, out)
    return _QUERY_ITEM.sub(lambda m: f"{m.group(1)}{m.group(2)}={PLACEHOLDER}" if is_secret_name(m.group(2))
                           else m.group(0), out)  # fmt: skip


def _flag_of(token: str) -> tuple[str, bool, str]:
    """(flag, has '=', inline value) of a token that starts with a dash."""
    flag, eq, inline = token.partition("=")
    return flag, bool(eq), inline


def _takes_next(nxt: str | None) -> bool:
    """Whether the token after a secret flag is its value: not when a long flag follows."""
    return nxt is not None and not nxt.startswith("--")


def command(tokens: Sequence[str]) -> list[str]:
    """A command line for showing: each secret flag's value (`--api-key X`, `--api-key=X`) replaced by
    the placeholder, and credentials in every URL hidden. The program and everything else kept."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = str(tokens[i])
        if i > 0 and tok.startswith("-") and len(tok) > 1:
            flag, eq, inline = _flag_of(tok)
            if _secret_flag(flag):
                if eq:
                    out.append(f"{flag}={PLACEHOLDER}")
                    i += 1
                    continue
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                out.append(tok)
                if _takes_next(nxt):
                    out.append(PLACEHOLDER)
                    i += 2
                else:
                    i += 1
                continue
            out.append(f"{flag}={_one(inline)}" if eq else _one(tok))
        else:
            out.append(_one(tok))
        i += 1
    return out


def _one(token: str) -> str:
    """One token: a value; one with spaces may be a whole command line in one (a process that rewrote its
    argv, a quoted sub-command), read as free text."""
    return text(token) if any(c.isspace() for c in token) else value(token)


def environment(env: Mapping[str, object]) -> dict[str, str]:
    """Variables (or any name → value settings, such as koboldcpp's Namespace line) for showing: a
    secret-named one's value replaced, credentials in every other value's URLs hidden."""
    return {str(k): PLACEHOLDER if is_secret_name(str(k)) else value(str(v)) for k, v in env.items()}


def text(line: str) -> str:
    """Free text that may hold a command line or variables (a log line, an error message, a pasted
    setting the reader did not understand): URL credentials, `--secret-flag value`, `--secret-flag=value`
    `SECRET_NAME=value`, `secret_name: value` (YAML, a dict's repr, a header), a flag in a printed list
    (`['--api-key', 'S']`) and a bearer credential hidden. A model's special tokens (`BOS token: <s>`) are
    names, left alone."""
    out = value(line)

    def flag(m: re.Match[str]) -> str:
        name, sep = m.group(1), m.group(2)
        if not _secret_flag(name):
            return m.group(0)
        return f"{name}{sep}{PLACEHOLDER}"

    out = _FLAG_IN_TEXT.sub(flag, out)
    out = _FLAG_IN_LIST.sub(flag, out)
    out = _ASSIGNMENT_IN_TEXT.sub(lambda m: f"{m.group(1)}={PLACEHOLDER}" if is_secret_name(m.group(1))
                                  else m.group(0), out)  # fmt: skip

    def colon(m: re.Match[str]) -> str:
        name = re.sub(r"[ \t]+", "_", m.group(2))
        if not is_secret_name(name) or m.group(4) == PLACEHOLDER:
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{PLACEHOLDER}"

    out = _COLON_IN_TEXT.sub(colon, out)
    return _BEARER.sub(lambda m: f"{m.group(1)}{PLACEHOLDER}", out)


# --- copy fields: nothing that changes what a pasted command does -------------------------------------------


def for_copy(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """(tokens to paste, the flags left out): every secret flag with its value, and every flag whose value
    is (or holds) the placeholder or credentials, left out — a copy field never holds a stand-in for a
    secret. A token that is not a flag's value and holds one is left out on its own."""
    kept: list[str] = []
    left: list[str] = []
    i = 0
    while i < len(tokens):
        tok = str(tokens[i])
        if i > 0 and tok.startswith("-") and len(tok) > 1:
            flag, eq, inline = _flag_of(tok)
            nxt = None if eq or i + 1 >= len(tokens) else str(tokens[i + 1])
            if _secret_flag(flag):
                left.append(flag)
                i += 2 if not eq and _takes_next(nxt) else 1
                continue
            if eq and _hides(inline):
                left.append(flag)
                i += 1
                continue
            if nxt is not None and not nxt.startswith("-") and _hides(nxt):
                left.append(flag)
                i += 2
                continue
        elif _hides(tok):
            left.append("an address with its password")
            i += 1
            continue
        kept.append(tok)
        i += 1
    return kept, list(dict.fromkeys(left))


def _hides(token: str) -> bool:
    """Whether a value holds the placeholder or credentials that `value` would hide."""
    return PLACEHOLDER in token or value(token) != token


def left_out_words(flags: Iterable[str]) -> str:
    """The plain sentence beside a copy field whose secret settings were left out ("" when none were)."""
    names = list(dict.fromkeys(flags))
    if not names:
        return ""
    if len(names) == 1:
        return (
            f" Left out of this command, because it holds a secret Quant Doctor never copies or shows: {names[0]}."
            " Add it back as you had it."
        )
    listed = ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f" Left out of this command, because they hold secrets Quant Doctor never copies or shows: {listed}."
        " Add them back as you had them."
    )
