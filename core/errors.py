"""Every error a person can meet, in one place.

Each error carries a plain message (what happened) and a fix (what to do about it), so the CLI,
the GUI and the report can show both without knowing the error's kind. Modelled on
huggingface_hub's errors module: one base class, one subclass per situation a caller may want to
tell apart.
"""

from __future__ import annotations


class QuantDoctorError(Exception):
    """Base class: something the person can act on, never a bug in Quant Doctor."""

    default_fix = "If this keeps happening, please report it with the file that caused it."

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix if fix is not None else self.default_fix

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        return {"error": type(self).__name__, "message": self.message, "fix": self.fix}


class ModelFileError(QuantDoctorError):
    """The model file or folder could not be read."""

    default_fix = "Check that you picked the right file, or download it again."


class NotAModelFileError(ModelFileError):
    """The file is some other format: an HTML page, a safetensors file, an old GGML file."""


class UnsupportedVersionError(ModelFileError):
    """A GGUF version this reader does not understand."""

    default_fix = "Download a current GGUF of this model (version 2 or 3)."


class IncompleteFileError(ModelFileError):
    """The file ends before its own header says it should: an interrupted download or copy."""

    default_fix = "The download or copy was cut short: download the file again and compare its size."

    def __init__(self, message: str, needed: int, has: int, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.needed = needed
        self.has = has


class CorruptModelFileError(ModelFileError):
    """The header contradicts itself (impossible counts, bad offsets, duplicate keys...)."""

    default_fix = (
        "The file is damaged or was written by a broken tool. Download it again; if a fresh copy "
        "fails the same way, the uploaded file itself is broken: pick another upload of the model."
    )


class MissingShardError(ModelFileError):
    """A split GGUF whose other parts are not next to the one that was opened."""

    default_fix = "Put every part of the split model in the same folder, then open the first part."


class ModelFolderError(ModelFileError):
    """An EXL2 / GPTQ / AWQ folder that cannot be read (config.json, safetensors headers)."""

    default_fix = "Check that the folder is a complete download of the model repository."


class DemoUnavailableError(QuantDoctorError):
    """The demo model could not be prepared (offline, no space, quantizer failed)."""

    default_fix = (
        "Connect to the internet once so the demo model can be fetched, or open a model file of your own instead."
    )


class RunnerCrashedError(QuantDoctorError):
    """A llama.cpp job in a child process crashed, was killed, or reported an error."""

    default_fix = (
        "The model runner stopped unexpectedly. Close other programs to free memory and try again; "
        "the app itself is unaffected."
    )


class CancelledError(QuantDoctorError):
    """The person cancelled a long job."""

    default_fix = "Nothing to do: start it again whenever you like."
